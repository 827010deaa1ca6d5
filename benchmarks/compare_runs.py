"""``python benchmarks/compare_runs.py <run folder A> <run folder B>``: are two runs' tables equal?

Compares ``results``, ``reference`` and ``mitigation`` (parquet, ``wall_s`` dropped) exactly, the
validity cards and the slice files byte for byte; prints one line per table and exits 1 on the first
difference (with the differing column). Used by ``engine_resume_quick.sh`` and
``engine_workers_quick.sh``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def differences(a: Path, b: Path) -> list[str]:
    """What differs between run folders ``a`` and ``b`` (empty when the tables are equal)."""
    out = []
    for name in ("results.parquet", "reference.parquet", "mitigation.parquet"):
        if not (a / name).is_file() and not (b / name).is_file():
            continue
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        x, y = (d.drop(columns=[c for c in ("wall_s",) if c in d]) for d in (x, y))
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
            print(f"{name}: equal, {x.shape[0]} rows x {x.shape[1]} columns")
        except AssertionError as exc:
            out.append(f"{name}: {str(exc).splitlines()[0]}")
    if json.loads((a / "validity.json").read_text()) != json.loads((b / "validity.json").read_text()):
        out.append("validity.json differs")
    sa = {p.name: p.read_bytes() for p in (a / "slices").iterdir()}
    sb = {p.name: p.read_bytes() for p in (b / "slices").iterdir()}
    if sa != sb:
        out.append(f"slices differ ({len(sa)} vs {len(sb)} files)")
    return out


if __name__ == "__main__":
    found = differences(Path(sys.argv[1]), Path(sys.argv[2]))
    print("\n".join(found) if found else "all tables, validity cards and slice scores equal")
    sys.exit(1 if found else 0)
