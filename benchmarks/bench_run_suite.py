"""Wall time, CPU time and peak RSS of ``medstrata run suite=<name>`` cold (empty MEDSTRATA_HOME)
and warm (rerun), with the 1-minute load average before and after each.

Acceptance for the quick suite on the 2-core machine: <= 15 min cold, <= 60 s warm.

Run:  MEDSTRATA_DATA_ROOT=../shared/data/medmnist python benchmarks/bench_run_suite.py quick [--home DIR] \
          [--out benchmarks/results/suite_quick.json] [-- <override> ...]
With --home pointing at an existing home, the "cold" run is only cold for what is not cached there.
Overrides after ``--`` go to ``medstrata run`` (e.g. ``-- +suite.mitigation=none``). Peak RSS is the
largest resident set of the run's process tree (``ru_maxrss`` of ``wait4``: the child and the
descendants it waited for). Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _benchutil import loadavg, machine


def timed_run(suite: str, home: str, overrides: list[str]) -> dict:
    """One ``medstrata run``: {wall_s, cpu_s (user + sys of the tree), peak_rss_mb, load_before,
    load_after, folder (last stdout line)}."""
    env = dict(os.environ, MEDSTRATA_HOME=home)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load0, t0 = loadavg(), time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "medstrata.cli", "run", f"suite={suite}", *overrides],
                                env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"run failed ({proc.returncode}):\n{err.read()[-4000:]}")
        lines = out.read().strip().splitlines()
    return {"wall_s": round(seconds, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "load_before": load0, "load_after": loadavg(),
            "folder": lines[-1] if lines else ""}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", nargs="?", default="quick")
    ap.add_argument("--home", default=None, help="MEDSTRATA_HOME to use (default: a fresh temporary folder)")
    ap.add_argument("--out", type=Path, help="write machine, cold and warm records as JSON here")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = ap.parse_args(argv[:cut])
    args.overrides = argv[cut + 1:]  # after --: overrides passed to medstrata run
    home = args.home or tempfile.mkdtemp(prefix="medstrata-bench-")
    result = {"machine": machine(), "suite": args.suite, "overrides": args.overrides, "home_given": bool(args.home)}
    result["cold"] = timed_run(args.suite, home, args.overrides)
    result["warm"] = timed_run(args.suite, home, args.overrides)
    for name in ("cold", "warm"):
        r = result[name]
        print(f"suite={args.suite} {name}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, peak RSS "
              f"{r['peak_rss_mb']:.0f} MiB, load {r['load_before']}-{r['load_after']}")
    print(f"run folder {result['cold']['folder']}")
    assert result["cold"]["folder"] == result["warm"]["folder"]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
