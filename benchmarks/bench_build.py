"""Time each default build once the source is loaded (acceptance: <= 2 s per build).

Run:  MEDSTRATA_DATA_ROOT=../shared/data/medmnist python benchmarks/bench_build.py
Prints one line per (dataset, kind): source load time, then min/median time of build + atomic write
(into a temporary MEDSTRATA_HOME) over 3 repeats.
Not part of the test run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

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


def main(repeats: int = 3) -> None:
    worst = 0.0
    for flag, kinds in CASES.items():
        t0 = time.perf_counter()
        try:
            source = load_source(flag)
        except DataFileMissingError:
            print(f"{flag:16s} missing, skipped")
            continue
        print(f"{flag:16s} load+verify {time.perf_counter() - t0:6.2f} s")
        for kind in kinds:
            spec = resolve_spec(flag, 28, 0, None, [(kind, {})])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                save_task(build_task(spec, source), overwrite=True)
                times.append(time.perf_counter() - t0)
            worst = max(worst, max(times))
            print(f"  {kind:16s} build min {min(times):5.2f} s  median {statistics.median(times):5.2f} s")
    print(f"slowest single build: {worst:.2f} s (target <= 2 s)")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEDSTRATA_HOME"] = home
        main()
