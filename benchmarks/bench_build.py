"""Time each default build once the source is loaded (acceptance: <= 2 s per build).

Run:  MEDSTRATA_DATA_ROOT=../shared/data/medmnist python benchmarks/bench_build.py [--out builds.json]
Prints one line per (dataset, kind): source load time, then min/median time of build + atomic write
(into a temporary MEDSTRATA_HOME) over 3 repeats, with the peak RSS of the build and the 1-minute
load average; ``--out`` writes the rows and the machine description as JSON.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

from _benchutil import best_of, machine, measure
from medstrata.data.source import load_source
from medstrata.errors import DataFileMissingError
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import resolve_spec
from medstrata.tasks.store import save_task

CASES = {
    "bloodmnist": ["rare_subclass", "label_noise", "subtle_feature", "spurious_marker"],
    "pneumoniamnist": ["label_noise", "subtle_feature", "spurious_marker"],
    "adrenalmnist3d": ["label_noise", "subtle_feature", "spurious_marker"],
    "vesselmnist3d": ["label_noise", "subtle_feature", "spurious_marker"],
    "organamnist": ["rare_subclass", "spurious_marker"],
}


def main(repeats: int = 3) -> list[dict]:
    rows = []
    for flag, kinds in CASES.items():
        try:
            source, m = measure(lambda: load_source(flag))
        except DataFileMissingError:
            print(f"{flag:16s} missing, skipped")
            continue
        print(f"{flag:16s} load+verify {m['wall_s']:6.2f} s")
        rows.append({"flag": flag, "kind": "load+verify", **m})
        for kind in kinds:
            spec = resolve_spec(flag, 28, 0, None, [(kind, {})])
            _, m = best_of(lambda: save_task(build_task(spec, source), overwrite=True), repeats)
            rows.append({"flag": flag, "kind": kind, **m, "median_s": statistics.median(m["walls_s"])})
            print(f"  {kind:16s} build min {m['wall_s']:5.2f} s  median {rows[-1]['median_s']:5.2f} s  "
                  f"peak RSS {m['peak_rss_mb']:5.0f} MiB  load {m['load_min']}-{m['load_max']}")
    worst = max((max(r["walls_s"]) for r in rows if "walls_s" in r), default=float("nan"))
    print(f"slowest single build: {worst:.2f} s (target <= 2 s)")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEDSTRATA_HOME"] = home
        result = {"machine": machine(), "rows": main()}
    result["machine"]["loadavg_1min_end"] = machine()["loadavg_1min"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
