"""Why the kmeans method's time grows faster than n: Lloyd iterations and per-class sizes.

Not part of the test run. Same data and Problems as ``bench_scaling.py`` (keyed subsample of pooled
BloodMNIST, one epoch of the default model at each size, penultimate embeddings). For each size and
class, the method's own k-means (sklearn ``KMeans``, k = n_slices = 5, n_init = 10, seeded as the
method seeds it) is refitted one restart at a time, so that every restart's Lloyd iteration count is
seen (``n_iter_`` of a 10-restart fit reports only the best one). Prints and optionally writes JSON:
per size, the class sizes, the summed iterations over classes and restarts, the time of the 10
restarts, and time per (iteration x sample).

    python benchmarks/kmeans_iterations.py --sizes 2000 4000 8000 17092 --threads 2 --out benchmarks/results/kmeans_iterations.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from _benchutil import machine
from bench_scaling import EPOCH_SPEC, FLAG, arrays_at, problem_of


def restarts(x: np.ndarray, k: int, seed: int, n_init: int = 10) -> tuple[list[int], float]:
    """Lloyd iteration count of each of ``n_init`` k-means++ restarts drawn as one ``n_init`` fit
    draws them (one RandomState(seed) shared across restarts), and the wall time of all of them."""
    from sklearn.cluster import KMeans

    rng = np.random.RandomState(seed)  # one state, consumed restart after restart as in one fit
    iters, t0 = [], time.perf_counter()
    for _ in range(n_init):
        km = KMeans(n_clusters=k, n_init=1, random_state=rng).fit(x)
        iters.append(int(km.n_iter_))
    return iters, time.perf_counter() - t0


def run(sizes: list[int], threads: int) -> dict:
    from threadpoolctl import threadpool_limits

    from medstrata.data.source import load_source
    from medstrata.methods import get_method
    from medstrata.models.train import fit_reference, predict

    source, out = load_source(FLAG), []
    for n in sizes:
        data, val = arrays_at(source, n)
        model, _ = fit_reference(data, val, 8, EPOCH_SPEC, 0, threads, False)
        problem = problem_of(data, *predict(model, data))
        x = problem.embeddings.astype(np.float64)
        with threadpool_limits(limits=threads):
            method = get_method("kmeans", n_slices=5, random_state=0)
            method.fit(problem)  # warm-up
            t0 = time.perf_counter()
            get_method("kmeans", n_slices=5, random_state=0).fit(problem)
            fit_s = time.perf_counter() - t0
            row = {"n": n, "method_fit_s": round(fit_s, 3), "classes": []}
            for c in np.unique(problem.labels).tolist():
                xc = x[problem.labels == c]
                iters, secs = restarts(xc, 5, method._seed("kmeans", int(c)))
                row["classes"].append({"class": c, "m": len(xc), "iterations": iters, "restarts_s": round(secs, 3)})
        total_iter = sum(sum(c["iterations"]) for c in row["classes"])
        work = sum(sum(c["iterations"]) * c["m"] for c in row["classes"])
        row.update(total_iterations=total_iter, iteration_samples=work,
                   restarts_s=round(sum(c["restarts_s"] for c in row["classes"]), 3))
        row["us_per_iteration_sample"] = round(1e6 * row["restarts_s"] / work, 4)
        print(json.dumps({k: v for k, v in row.items() if k != "classes"}), flush=True)
        out.append(row)
    return {"machine": machine(), "threads": threads, "sizes": sizes, "rows": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[2000, 4000, 8000, 17092])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    result = run(args.sizes, args.threads)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
