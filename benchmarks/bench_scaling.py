"""Time and peak RSS of each pipeline component against the number of samples, with the log-log
exponent of time on n per component.

Not part of the test run. Data: the official BloodMNIST 28-px file, its three splits pooled
(17,092 images, 8 classes), subsampled to each ``--sizes`` n by a keyed uniform draw per sample id
(nested: the 2k draw lies inside the 4k draw). At each n, in one process:

* ``build``: the quick suite's BloodMNIST task (superclass target; rare_subclass p 0.02 +
  subtle_feature cls 1, histogram 1.0) built from the subsampled source and written atomically into
  a temporary MEDSTRATA_HOME (what ``benchmarks/bench_build.py`` times on the full source);
* ``train_epoch``: one epoch of the default reference model (``small_cnn`` w32, bf16, batch 128) on
  the n images (for timing only: the pool mixes official splits), with a fixed 256-image val pass;
* ``embed_penultimate``: the fp32 forward pass giving logits and penultimate features of the n
  images; ``embed_pixel_pca``: the ``pixel_pca`` encoder fit and transform on them;
* ``method:<name>``: every registered discovery method (``list_methods()``), fit on the n-row
  Problem built from that model's outputs and scoring the same n rows (n_slices 5, random_state 0;
  the oracle gets a keyed 5 % stratum as its truth; error_set, which reads JTT's identification
  model, gets this model's probabilities in its place: the identification model's training is
  another ``train_epoch``-like cost, not part of the method's);
* ``scoring``: the pinned scorer's work on one (n, 5) slice-score matrix: split halves, cell
  bootstrap weights, split-half AP against a keyed 5 % stratum, worst-slice accuracy.

Each component is repeated (``--repeats``, default 3) and its fastest wall time kept: the CPU is
shared. At the first size every component is called once more before the timed repeats (its time
is ``first_call_s``), so one-time costs of the process (numba compiling UMAP for george, oneDNN
set-up, lazy imports) do not enter the exponents. A component stops repeating once its repeats
took ``--repeat-budget-s`` seconds. Peak RSS is the process's peak during the call
(``_benchutil.measure``), beside the RSS before it. A long-lived process reuses freed pages, so a
call's own footprint can hide under that peak; ``--traced-peak`` adds, at the largest size, the
peak of what the call allocates through Python and numpy (``tracemalloc``; torch tensors are not
traced, so it is meaningless for ``train_epoch`` and ``embed_penultimate``).

    python benchmarks/bench_scaling.py --sizes 2000 4000 8000 17092 --repeats 3 \\
        --out benchmarks/results/scaling.json --markdown benchmarks/results/scaling.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from _benchutil import best_of, keyed_subsample, loglog_exponent, machine, measure, traced_peak_mb

FLAG = "bloodmnist"
KEY = "medstrata.benchmarks.scaling"
STRATA = [("rare_subclass", {"p": 0.02}), ("subtle_feature", {"cls": 1, "histogram": 1.0})]
EPOCH_SPEC = {"epochs": 1, "min_steps": 0}  # the default recipe, one epoch


def pooled(source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids (N,), images (N, 28, 28, 3), labels (N,)) of the three official splits, pooled."""
    ids, images, labels = [], [], []
    for split in ("train", "val", "test"):
        n = len(source.images[split])
        ids += [f"{FLAG}-28-{split}-{i:06d}" for i in range(n)]
        images.append(source.images[split])
        labels.append(source.labels[split].reshape(-1))
    return np.asarray(ids), np.concatenate(images), np.concatenate(labels).astype(np.int64)


def sub_source(source, n: int):
    """``source`` with each split cut to the rows of the keyed n-subsample of the pooled ids."""
    ids = pooled(source)[0]
    keep = set(ids[keyed_subsample(ids, n, KEY)].tolist())
    images, labels = {}, {}
    for split in ("train", "val", "test"):
        mask = np.array([f"{FLAG}-28-{split}-{i:06d}" in keep for i in range(len(source.images[split]))])
        images[split], labels[split] = source.images[split][mask], source.labels[split][mask]
    return dataclasses.replace(source, images=images, labels=labels)


def keyed_stratum(ids: np.ndarray, purpose: str, rate: float = 0.05) -> np.ndarray:
    """(n,) int: 1 for a keyed ``rate`` share of ``ids``, else 0 (a stand-in hidden stratum)."""
    from medstrata.hashing import keyed_uniform

    return (keyed_uniform(KEY, ids.astype(str).tolist(), purpose) < rate).astype(np.int64)


def arrays_at(source, n: int):
    """(SplitArrays of the keyed n-subsample of the pool, a fixed keyed 256-image val set)."""
    from medstrata.models import SplitArrays

    ids, images, labels = pooled(source)
    pos, val_pos = keyed_subsample(ids, n, KEY), keyed_subsample(ids, 256, KEY + "/val")
    return (SplitArrays(ids[pos].astype(object), images[pos], labels[pos]),
            SplitArrays(ids[val_pos].astype(object), images[val_pos], labels[val_pos]))


def problem_of(data, logits: np.ndarray, feats: np.ndarray):
    """The n-row Problem of a model's outputs on ``data`` (penultimate embeddings). error_set (JTT)
    reads an identification model's probabilities; for timing it gets this model's."""
    from medstrata.models.outputs import probs_and_losses
    from medstrata.problem import Problem

    probs, losses = probs_and_losses(logits, data.labels)
    return Problem(data.sample_ids.astype(str), data.labels, probs, losses, feats, id_probs=probs)


def method_params(name: str, problem) -> dict:
    """n_slices 5, random_state 0; the oracle's truth is a keyed 5 % stratum."""
    if name != "oracle":
        return {"n_slices": 5, "random_state": 0}
    truth = dict(zip(problem.sample_ids.tolist(), keyed_stratum(problem.sample_ids, "oracle").tolist()))
    return {"n_slices": 5, "random_state": 0, "truth": truth}


def score_once(scores: np.ndarray, problem) -> None:
    """The scorer's work on one cell (see ``medstrata.runner.jobs.score_outputs``)."""
    from medstrata.scoring import cell_bootstrap_weights, score_split_half, split_halves
    from medstrata.scoring.slice_acc import worst_slice_accuracy

    half = split_halves(problem.sample_ids, KEY)
    weights = cell_bootstrap_weights(problem.sample_ids, KEY)
    score_split_half(scores, keyed_stratum(problem.sample_ids, "stratum"), half, [1], weights)
    worst_slice_accuracy(scores, problem.correct)


def at_size(source, n: int, args, methods: list[str], warm: bool) -> list[dict]:
    """Every component at sample count n; one row each. With ``warm``, each component is first
    called once untimed (its wall time kept as ``first_call_s``): one-time costs of a process."""
    from medstrata.methods import run_method
    from medstrata.models.encoders import ModelOutputs, get_encoder
    from medstrata.models.train import fit_reference, predict
    from medstrata.tasks.build import build_task
    from medstrata.tasks.spec import resolve_spec
    from medstrata.tasks.store import save_task

    rows = []

    def timed(component: str, fn, repeats: int = args.repeats):
        first = measure(fn)[1]["wall_s"] if warm else None  # JIT (numba in UMAP), oneDNN set-up, imports
        value, m = best_of(fn, repeats, args.repeat_budget_s)
        rows.append({"component": component, "n": n, **m, "first_call_s": first})
        if args.traced_peak and n == args.sizes[-1]:
            rows[-1]["traced_peak_mb"] = traced_peak_mb(fn)
        print(f"  n={n:6d} {component:28s} {m['wall_s']:8.3f} s  peak {m['peak_rss_mb']:7.0f} MiB "
              f"(load {m['load_min']}-{m['load_max']})", file=sys.stderr, flush=True)
        return value

    spec = resolve_spec(FLAG, 28, 0, None, STRATA)
    small = sub_source(source, n)
    timed("build", lambda: save_task(build_task(spec, small), overwrite=True))
    data, val = arrays_at(source, n)
    model, _ = timed("train_epoch", lambda: fit_reference(data, val, 8, EPOCH_SPEC, 0, args.threads, False))
    logits, feats = timed("embed_penultimate", lambda: predict(model, data))
    out = ModelOutputs(logits=logits, penultimate=feats)
    timed("embed_pixel_pca", lambda: get_encoder("pixel_pca").fit(data, out, KEY).transform(data, out))
    problem = problem_of(data, logits, feats)
    scores = None
    for name in methods:
        params = method_params(name, problem)
        got = timed(f"method:{name}", lambda: run_method(name, params, problem, problem))
        scores = got if name == "kmeans" else scores
    if scores is None:
        scores = np.full((n, 5), 0.5)
    timed("scoring", lambda: score_once(scores, problem))
    return rows


def summary(rows: list[dict]) -> dict[str, float]:
    """{component: log-log exponent of best wall time on n}."""
    out = {}
    for comp in dict.fromkeys(r["component"] for r in rows):
        rs = [r for r in rows if r["component"] == comp]
        out[comp] = round(loglog_exponent([r["n"] for r in rs], [r["wall_s"] for r in rs]), 3)
    return out


def markdown(result: dict) -> str:
    """Table: one row per component: first-call time, wall s (best of repeats) per size, the fitted
    exponent, the slope between the two largest sizes, the exponent fitted to process CPU time (less
    sensitive to a shared CPU than wall time when the run uses one thread), peak RSS and its rise
    during the call."""
    rows, sizes = result["rows"], result["args"]["sizes"]
    head = " | ".join(f"n={n} s" for n in sizes)
    traced_col = any("traced_peak_mb" in r for r in rows)
    traced_head = " traced peak MiB |" if traced_col else ""
    lines = [f"| component | first call s (n={sizes[0]}) | {head} | exponent | last-pair slope | "
             f"CPU-time exponent | peak RSS MiB (n={sizes[-1]}) | +RSS MiB |{traced_head} load (min-max) |",
             "|---|" + "---|" * (len(sizes) + 7 + traced_col)]
    for comp, expo in result["exponents"].items():
        by_n = {r["n"]: r for r in rows if r["component"] == comp}
        top, first = by_n[sizes[-1]], by_n[sizes[0]].get("first_call_s")
        cells = " | ".join(f"{by_n[n]['wall_s']:.3g}" if n in by_n else "–" for n in sizes)
        last = loglog_exponent(sizes[-2:], [by_n[n]["wall_s"] for n in sizes[-2:]])
        cpu = loglog_exponent(sizes, [max(by_n[n]["cpu_s"], 1e-4) for n in sizes])
        flag = " **> 1.15**" if expo > 1.15 else ""
        loads = [r["load_min"] for r in by_n.values()] + [r["load_max"] for r in by_n.values()]
        traced = f" {top['traced_peak_mb']:.1f} |" if traced_col else ""
        lines.append(f"| {comp} | {'–' if first is None else f'{first:.3g}'} | {cells} | {expo:.2f}{flag} | "
                     f"{last:.2f} | {cpu:.2f} | {top['peak_rss_mb']:.0f} | {top['peak_rss_mb'] - top['rss_before_mb']:.0f} |"
                     f"{traced} {min(loads)}-{max(loads)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", type=int, default=[2000, 4000, 8000, 17092])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--repeat-budget-s", type=float, default=60.0,
                    help="stop repeating a component once its repeats took this long")
    ap.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--traced-peak", action="store_true",
                    help="at the largest size, one more call of each component under tracemalloc")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--render", type=Path, help="print the table of a saved --out JSON and exit")
    args = ap.parse_args(argv)
    if args.render:
        print(markdown(json.loads(args.render.read_text())))
        return 0
    import torch

    from medstrata.data.source import load_source
    from medstrata.methods import list_methods

    torch.set_num_threads(args.threads)
    methods = args.methods or list_methods()
    source = load_source(FLAG)
    result = {"machine": machine(args.threads), "args": {**vars(args), "out": str(args.out),
                                                          "markdown": str(args.markdown)}, "rows": []}
    with tempfile.TemporaryDirectory() as home:
        os.environ["MEDSTRATA_HOME"] = home
        for i, n in enumerate(args.sizes):
            result["rows"] += at_size(source, n, args, methods, warm=i == 0)
    result["exponents"] = summary(result["rows"])
    result["machine"]["loadavg_1min_end"] = machine(args.threads)["loadavg_1min"]
    table = markdown(result)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    if args.markdown:
        args.markdown.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
