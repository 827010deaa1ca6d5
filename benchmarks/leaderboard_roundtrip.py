"""Every baseline of a published run through export-submission -> submit -> page, with a check that
the board's numbers equal the run's, and the time and size of each step.

    MEDSTRATA_HOME=... python benchmarks/leaderboard_roundtrip.py $MEDSTRATA_HOME/runs/quick-<id> \
        --db /tmp/lb.db --board-out leaderboard/boards/quick.json --site leaderboard/site --subs /tmp/subs

Prints one line per method (export s, file MB, submit s, rows, max |difference| over the metrics)
and exits 1 if any number differs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ["ap", "p_at_10", "p_at_10_dcbench", "auroc", "split_agreement", "worst_slice_acc", "ami", "ari"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--db", required=True)
    ap.add_argument("--board-out", required=True)
    ap.add_argument("--site", required=True)
    ap.add_argument("--subs", required=True, help="folder for the submission files")
    ap.add_argument("--code", action="store_true",
                    help="submit each baseline as a verified code submission (`submit --method`: the pinned "
                         "scorer refits it and runs its mitigation jobs, so the board has gap closed) "
                         "instead of export-submission -> submit of an outputs file")
    args = ap.parse_args()
    from medstrata.cli import main as cli

    run, db, subs = Path(args.run), ["--db", args.db], Path(args.subs)
    assert cli(["leaderboard", "init", "--run", str(run), "--out", args.board_out, *db]) == 0
    res = pd.read_parquet(run / "results.parquet")
    worst, report = 0.0, []
    for method in sorted(res.method.unique()):
        out = subs / f"{method}.json"
        t0 = time.perf_counter()
        if args.code:
            t1 = t0
            assert cli(["submit", "--method", method, *db]) == 0
        else:
            assert cli(["export-submission", str(run), "--method", method, "--out", str(out), *db]) == 0
            t1 = time.perf_counter()
            assert cli(["submit", str(out), *db]) == 0
        t2 = time.perf_counter()
        diff = compare(args.db, res[res.method == method], method, METRICS + ["gap_closed"] * args.code)
        worst = max(worst, diff)
        size = "code" if args.code else f"{out.stat().st_size / 2**20:.1f} MB"
        report.append(f"{method}: export {t1 - t0:.1f} s, {size}, submit {t2 - t1:.1f} s, "
                      f"max |board - run| {diff:.3g}")
    t3 = time.perf_counter()
    assert cli(["leaderboard", "build", "--out", args.site, *db]) == 0
    report.append(f"page build {time.perf_counter() - t3:.1f} s")
    print("\n".join(report))
    print(f"largest difference over {len(METRICS) + args.code} metrics and every row: {worst:.3g}")
    return 0 if worst == 0 else 1


def compare(db: str, want: pd.DataFrame, method: str, metrics: list[str] = METRICS) -> float:
    """Largest |board - run| of ``metrics`` (NaN == NaN) over the method's rows."""
    import sqlite3

    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT r.record FROM results r JOIN submissions s ON s.id = r.submission_id "
                           "WHERE s.name = ?", (method,)).fetchall()
    got = pd.DataFrame([json.loads(r) for (r,) in rows])
    key = ["task_id", "stratum_column", "stratum_id"]
    merged = want.merge(got, on=key, suffixes=("_run", "_board"))
    assert len(merged) == len(want) == len(got), (method, len(want), len(got))
    out = 0.0
    for m in metrics:
        a, b = merged[f"{m}_run"].to_numpy(float), merged[f"{m}_board"].to_numpy(float)
        same_nan = np.isnan(a) & np.isnan(b)
        d = np.where(same_nan, 0.0, np.abs(a - b))
        out = max(out, float(np.nanmax(np.where(np.isnan(d), np.inf, d))))
    return out


if __name__ == "__main__":
    sys.exit(main())
