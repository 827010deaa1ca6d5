"""Where a discovery method's time goes at two sizes: the evidence behind the "why" of a scaling
exponent above 1.15 in benchmarks/RESULTS.md.

Not part of the test run. Same data and Problems as ``bench_scaling.py`` (keyed subsample of pooled
BloodMNIST, one epoch of the default model, penultimate embeddings). Per method and size: one
untimed warm-up call, then one call under ``cProfile``; the functions with the largest cumulative
time at the largest size are listed with their time and call count at each size and the log-log
slope between the sizes. Fitted counters that explain a cost are printed where the method has
them (EM iterations, support vectors). cProfile adds overhead to Python-level calls: compare the
rows of one table, not these seconds with bench_scaling's.

    python benchmarks/profile_scaling.py --sizes 4000 17092 --methods domino_mixture failure_directions \\
        oracle spotlight george --out benchmarks/results/profile.json
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
from pathlib import Path

import numpy as np

from _benchutil import machine
from bench_scaling import EPOCH_SPEC, FLAG, arrays_at, method_params, problem_of


def profile_call(fn) -> dict[str, tuple[float, int]]:
    """{"file:line(function)": (cumulative s, primitive calls)} of one call of ``fn``."""
    prof = cProfile.Profile()
    prof.runcall(fn)
    stats = pstats.Stats(prof).stats
    return {f"{Path(k[0]).name}:{k[1]}({k[2]})": (v[3], v[0]) for k, v in stats.items()}


def counters(method) -> dict:
    """Fitted quantities that drive a method's cost, where it has them."""
    out = {}
    if hasattr(method, "n_iter_"):
        out["em_iterations"] = int(method.n_iter_)
    models = getattr(method, "models_", None)
    if isinstance(models, dict):
        svms = [m[0] for m in models.values() if m[0] is not None]
        out["support_vectors"] = int(sum(s.n_support_.sum() for s in svms))
        out["svm_C"] = [float(s.C) for s in svms]
    return out


def run(sizes: list[int], methods: list[str], threads: int, top: int) -> dict:
    from medstrata.data.source import load_source
    from medstrata.methods import get_method
    from medstrata.models.train import fit_reference, predict

    source = load_source(FLAG)
    profiles: dict[str, dict[int, dict]] = {m: {} for m in methods}
    facts: dict[str, dict[int, dict]] = {m: {} for m in methods}
    for n in sizes:
        data, val = arrays_at(source, n)
        model, _ = fit_reference(data, val, 8, EPOCH_SPEC, 0, threads, False)
        problem = problem_of(data, *predict(model, data))
        for name in methods:
            params = method_params(name, problem)
            get_method(name, **params).fit(problem)  # warm-up (numba JIT, imports)
            method = get_method(name, **params)
            profiles[name][n] = profile_call(lambda: method.fit(problem).predict_proba(problem))
            facts[name][n] = counters(method)
            print(f"n={n} {name} {facts[name][n]}", file=sys.stderr, flush=True)
    return {"profiles": profiles, "facts": facts, "top": top, "sizes": sizes}


def table(name: str, result: dict) -> str:
    sizes, prof = result["sizes"], result["profiles"][name]
    big = prof[sizes[-1]]
    keys = sorted(big, key=lambda k: -big[k][0])[: result["top"]]
    lines = [f"**{name}** {json.dumps({str(n): result['facts'][name][n] for n in sizes})}", "",
             "| function | " + " | ".join(f"cum s (calls) n={n}" for n in sizes) + " | slope |",
             "|---|" + "---|" * (len(sizes) + 1)]
    for k in keys:
        cells = [prof[n].get(k, (float("nan"), 0)) for n in sizes]
        ok = all(c[0] > 0 for c in cells)
        slope = np.polyfit(np.log(sizes), np.log([c[0] for c in cells]), 1)[0] if ok else float("nan")
        lines.append(f"| `{k}` | " + " | ".join(f"{c[0]:.3f} ({c[1]})" for c in cells) + f" | {slope:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[4000, 17092])
    ap.add_argument("--methods", nargs="+", default=["domino_mixture", "failure_directions", "oracle", "spotlight"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--render", type=Path, help="print the tables of a saved --out JSON and exit")
    args = ap.parse_args(argv)
    if args.render:
        result = json.loads(args.render.read_text())
        result["sizes"] = [int(n) for n in result["sizes"]]
        for part in ("profiles", "facts"):
            result[part] = {m: {int(n): v for n, v in d.items()} for m, d in result[part].items()}
    else:
        result = {"machine": machine(args.threads), **run(args.sizes, args.methods, args.threads, args.top)}
        result["machine"]["loadavg_1min_end"] = machine(args.threads)["loadavg_1min"]
    print("\n\n".join(table(m, result) for m in result["profiles"]))
    if args.out and not args.render:
        keep = {m: {k for p in d.values() for k, v in p.items() if v[0] >= 0.01} for m, d in result["profiles"].items()}
        slim = {**result, "profiles": {m: {n: {k: v for k, v in p.items() if k in keep[m]} for n, p in d.items()}
                                       for m, d in result["profiles"].items()}}
        args.out.write_text(json.dumps(slim, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
