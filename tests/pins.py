"""Golden end-to-end pins: the numbers a suite run must reproduce exactly.

A pin is a JSON file in ``tests/golden/`` holding, per result row (method, seed, stratum column,
stratum id), the recovery metrics, and per reference model its worst-group metrics, plus the task
and model ids. :func:`compare` checks a run folder against it. A change that moves a number fails
the test; to accept the change on purpose, rerun the test with ``MEDSTRATA_UPDATE_GOLDEN=1`` (it
rewrites the pin) and commit the new pin with a sentence in the commit message on why it moved.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd

GOLDEN = Path(__file__).resolve().parent / "golden"
KEYS = ["method", "seed", "stratum_column", "stratum_id"]
METRICS = ["ap", "p_at_10", "auroc", "split_agreement", "prevalence"]
REFERENCE = ["acc_avg", "acc_wg", "auroc_avg"]
TOLERANCE = 1e-9


def digest(folder: Path) -> dict:
    """The pinned figures of a run folder (ids and metrics, sorted by key)."""
    results = pd.read_parquet(folder / "results.parquet").sort_values(KEYS)
    ref = pd.read_parquet(folder / "reference.parquet").sort_values(["seed", "stratum_column"])
    rows = [{**{k: _plain(r[k]) for k in KEYS}, **{m: _plain(r[m]) for m in METRICS}} for _, r in results.iterrows()]
    models = [{"seed": int(r.seed), "task_id": r.task_id, "model_id": r.model_id,
               **{m: _plain(r[m]) for m in REFERENCE}} for _, r in ref.iterrows()]
    return {"results": rows, "reference": models}


def compare(folder: Path, name: str) -> list[str]:
    """Differences between the run in ``folder`` and pin ``name`` (empty = equal), or rewrite the
    pin when ``MEDSTRATA_UPDATE_GOLDEN=1``."""
    path = GOLDEN / f"{name}.json"
    now = digest(folder)
    if os.environ.get("MEDSTRATA_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        return []
    pinned = json.loads(path.read_text())
    problems = []
    for part in ("results", "reference"):
        if len(pinned[part]) != len(now[part]):
            problems.append(f"{part}: {len(now[part])} rows, pinned {len(pinned[part])}")
            continue
        for old, new in zip(pinned[part], now[part]):
            for key, value in old.items():
                if not _same(value, new.get(key)):
                    problems.append(f"{part} {[old.get(k) for k in KEYS if k in old]} {key}: {new.get(key)!r} != pinned {value!r}")
    return problems


def _plain(value):
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    try:
        return value.item()
    except AttributeError:
        return str(value)


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= TOLERANCE
    return a == b
