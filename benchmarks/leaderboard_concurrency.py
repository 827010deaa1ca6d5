"""N concurrent ``medstrata submit`` processes against one leaderboard database, on a real board.

    MEDSTRATA_HOME=... python benchmarks/leaderboard_concurrency.py --template sub.json --db copy.db -n 20

Each process submits a copy of ``--template`` with its own method name and scores drawn from a
generator keyed by its index. Prints the wall time, the submissions and result rows added and
``PRAGMA integrity_check``; exits 1 unless all N were accepted and the check is ``ok``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def variant(doc: dict, i: int) -> dict:
    out = json.loads(json.dumps(doc))
    out["method"].update(name=f"concurrent{i}", used_stratum_labels=False, control=False)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"concurrency/{i}".encode()).digest()[:8], "little"))
    for entry in out["tasks"].values():
        rows = entry.pop("scores", None) or next(iter(entry.pop("scores_by_column").values()))
        entry["scores"] = {s: rng.random(len(r)).tolist() for s, r in rows.items()}
    return out


def counts(db: str) -> tuple[int, int, str]:
    with sqlite3.connect(db) as con:
        return (con.execute("SELECT count(*) FROM submissions").fetchone()[0],
                con.execute("SELECT count(*) FROM results").fetchone()[0],
                con.execute("PRAGMA integrity_check").fetchone()[0])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--work", default="/tmp/medstrata_concurrency")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    doc = json.loads(Path(args.template).read_text())
    files = []
    for i in range(args.n):
        files.append(work / f"sub{i}.json")
        files[-1].write_text(json.dumps(variant(doc, i)))
    before = counts(args.db)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["medstrata", "submit", str(f), "--db", args.db], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for f in files]
    outs = [p.communicate() for p in procs]
    wall = time.perf_counter() - t0
    after = counts(args.db)
    ok = sum(p.returncode == 0 for p in procs)
    for p, (_, err) in zip(procs, outs):
        if p.returncode:
            print(err[-500:], file=sys.stderr)
    print(f"{args.n} concurrent submits: {ok} accepted in {wall:.1f} s wall; submissions {before[0]} -> {after[0]}, "
          f"result rows {before[1]} -> {after[1]}; integrity_check: {after[2]}")
    return 0 if ok == args.n and after[0] - before[0] == args.n and after[2] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
