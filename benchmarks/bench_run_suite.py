"""Wall time of ``medstrata run suite=<name>`` cold (empty MEDSTRATA_HOME) and warm (rerun).

Acceptance for the quick suite on the 2-core machine: <= 15 min cold, <= 60 s warm.

Run:  MEDSTRATA_DATA_ROOT=../shared/data/medmnist python benchmarks/bench_run_suite.py quick [--home DIR]
With --home pointing at an existing home, the "cold" run is only cold for what is not cached there.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def timed_run(suite: str, home: str) -> tuple[float, str]:
    env = dict(os.environ, MEDSTRATA_HOME=home)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "medstrata.cli", "run", f"suite={suite}"], env=env,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"run failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return seconds, out.stdout.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("suite", nargs="?", default="quick")
    ap.add_argument("--home", default=None, help="MEDSTRATA_HOME to use (default: a fresh temporary folder)")
    args = ap.parse_args()
    home = args.home or tempfile.mkdtemp(prefix="medstrata-bench-")
    cold, folder = timed_run(args.suite, home)
    warm, folder2 = timed_run(args.suite, home)
    print(f"suite={args.suite} cold {cold:.1f} s, warm {warm:.1f} s; run folder {folder}")
    assert folder == folder2


if __name__ == "__main__":
    main()
