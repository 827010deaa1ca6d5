"""Fidelity check: MedStrata's baselines against the authors' reference code, on the same inputs.

Not part of the test run (it needs domino, which is not a dependency). Usage::

    pip install --no-deps --target /work/fid8/site domino==0.1.5
    git -C <domino clone> show HEAD:domino/_slice/multiaccuracy.py > /work/fid8/ref/multiaccuracy.py
    MEDSTRATA_HOME=... python benchmarks/fidelity/compare.py --site /work/fid8/site \
        --multiaccuracy-file /work/fid8/ref/multiaccuracy.py --seed 100 --out fidelity.json

Pairs (ours <- theirs): ``domino_mixture`` <- ``DominoSlicer`` (0.1.5), ``spotlight`` <-
``SpotlightSlicer`` (0.1.5), ``multiaccuracy`` <- ``MultiaccuracySlicer`` (domino's repository,
binary tasks only, as its code), ``failure_directions`` <- a transcription of the behaviour of
MadryLab/failure-directions' ``SVMFitter`` (not installable: it needs CLIP, ffcv and CUDA). Inputs: the planted testbeds (``medstrata.methods.synthetic``) and
real quick-suite tasks (reference model outputs from the model cache; built if missing). Both sides
get the same fitting (val) and scoring (test) rows and the same ``random_state``; each side's test
scores are scored by MedStrata's own scorer (best-matching slice by AP). Agreement figures:

* AP and P@10 of the matched slice, ours and theirs (mean over strata and random states);
* overlap: Jaccard index of the top-m test samples (m = stratum size) of the two matched slices;
* noise: the same overlap between the reference run with random_state r and r + 1, the size of
  disagreement that seed noise alone produces.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TQDM_DISABLE", "1")

import reference_impls as ref  # noqa: E402

from medstrata.methods import get_method  # noqa: E402
from medstrata.methods.synthetic import make_planted  # noqa: E402
from medstrata.problem import Problem  # noqa: E402
from medstrata.scoring import score_recovery  # noqa: E402

N_SLICES = 5


# ------------------------------------------------------------------------------------ inputs
def planted_inputs(seed: int, n: int = 600, n_classes: int = 3):
    """[(name, val Problem, test Problem, test strata (n,))] for the easy and medium testbeds."""
    out = []
    for diff in ("easy", "medium"):
        v = make_planted(n, difficulty=diff, n_classes=n_classes, seed=seed, split="val")
        t = make_planted(n, difficulty=diff, n_classes=n_classes, seed=seed, split="test")
        out.append((f"planted {diff} C={n_classes}", v.problem, t.problem, t.strata))
    return out


def real_inputs(dataset: str, kind: str, seed: int, embedding: str = "penultimate"):
    """[(name, val, test, test strata)] of one quick-suite task (one entry per stratum column)."""
    from medstrata.runner import jobs as J

    task_id = J.task_job(dataset, kind, {}, seed)
    model = J.model_job(task_id, {"arch": "small_cnn"}, seed, progress=False)
    val = J.problem(model["model_dir"], "val", embedding)
    test = J.problem(model["model_dir"], "test", embedding)
    task = J._load_task(task_id)
    order = J._align(task, "test", test.sample_ids)
    return [(f"{dataset} {kind}", val, test, ids[order])
            for _, ids in J.strata_of(task, "test").items()]


# ----------------------------------------------------------------------------------- methods
def ours(name: str, val: Problem, test: Problem, rs: int, **params) -> np.ndarray:
    return get_method(name, n_slices=N_SLICES, random_state=rs, **params).fit(val).predict_proba(test)


def theirs_domino(site, val: Problem, test: Problem, rs: int, **params) -> np.ndarray:
    cls = ref.domino_slicer(site)
    k = min(128, val.embeddings.shape[1], val.n)
    slicer = cls(n_slices=N_SLICES, random_state=rs, n_pca_components=k,
                 n_mixture_components=max(25, val.n_classes**2), **params)
    slicer.fit(embeddings=val.embeddings, targets=val.labels, pred_probs=val.probs)
    return slicer.predict_proba(embeddings=test.embeddings, targets=test.labels, pred_probs=test.probs)


def theirs_spotlight(site, val: Problem, test: Problem, rs: int) -> np.ndarray:
    """The reference starts at the origin with a fixed precision and draws nothing (rs unused)."""
    import torch

    slicer = ref.spotlight_slicer(site)(n_slices=N_SLICES)
    slicer.config.device = "cpu"
    # the reference passes pred_probs to cross_entropy as logits; log-probs make that the true CE
    logp = torch.tensor(np.log(np.clip(val.probs, 1e-12, 1)), dtype=torch.float32)
    slicer.fit(embeddings=torch.tensor(val.embeddings), targets=torch.tensor(val.labels), pred_probs=logp)
    return slicer.predict_proba(embeddings=torch.tensor(test.embeddings), targets=test.labels,
                                pred_probs=test.probs)


def theirs_multiaccuracy(site, ma_file, val: Problem, test: Problem, rs: int) -> np.ndarray:
    """Rows handed over in the order that makes the reference's positional 90/10 split equal to
    ours (so both audit and hold out the same rows)."""
    est = get_method("multiaccuracy", n_slices=N_SLICES, random_state=rs)
    sorted_val = val.take(np.argsort(val.sample_ids, kind="stable"))
    train, held = est._split(sorted_val.n)
    rows = sorted_val.take(np.concatenate([train, held]))
    slicer = ref.multiaccuracy_slicer(ma_file, site)(n_slices=N_SLICES)
    slicer.fit(embeddings=rows.embeddings.astype(np.float64), targets=rows.labels,
               pred_probs=np.clip(rows.probs, 1e-12, 1 - 1e-12))
    return slicer.predict_proba(embeddings=test.embeddings.astype(np.float64))


def transcribed_failure_directions(val: Problem, test: Problem, rs: int) -> np.ndarray:
    """MadryLab/failure-directions is not installable (CLIP, ffcv, CUDA); this is a transcription
    of the *behaviour* of its ``SVMFitter`` defaults (``SVMPreProcessing`` whitening with
    unbiased std + L2 normalisation; per class ``SVC(kernel="linear", class_weight="balanced")``
    with C from ``np.logspace(-6, 0, 7)`` by ``cross_val_score(cv=2)`` balanced accuracy, strict
    improvement; ``decision_function``), fed the rows in the order given (the official code
    keeps dataset order). One column per class, classes in error order as ours."""
    from sklearn.metrics import balanced_accuracy_score, make_scorer
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    mean = val.embeddings.mean(axis=0)
    std = (val.embeddings - mean).std(axis=0, ddof=1)
    def prep(x):
        z = (x - mean) / std
        return z / np.linalg.norm(z, axis=1, keepdims=True)
    zv, zt = prep(val.embeddings.astype(np.float64)), prep(test.embeddings.astype(np.float64))
    wrong = [int(np.sum(~val.correct & (val.labels == c))) for c in range(val.n_classes)]
    order = sorted(range(val.n_classes), key=lambda c: (-wrong[c], c))[:N_SLICES]
    out = np.zeros((test.n, len(order)))
    for j, c in enumerate(order):
        x, gt = zv[val.labels == c], val.correct[val.labels == c].astype(int)
        if gt.min() == gt.max():
            continue
        best_c, best = 1.0, -np.inf
        for C in np.logspace(-6, 0, 7):
            score = np.mean(cross_val_score(SVC(kernel="linear", C=C, class_weight="balanced"), x, gt,
                                            cv=2, scoring=make_scorer(balanced_accuracy_score)))
            if score > best:
                best_c, best = C, score
        clf = SVC(kernel="linear", C=best_c, class_weight="balanced").fit(x, gt)
        member = test.labels == c
        out[member, j] = 1 / (1 + np.exp(clf.decision_function(zt[member])))
    return out


# ------------------------------------------------------------------------------------ scoring
def _unit(scores: np.ndarray) -> np.ndarray:
    """Per-column rank transform to (0, 1]: AP and P@k read only the order (reference outputs may
    fall outside [0, 1])."""
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64))
    return np.stack([rankdata(c) / len(c) for c in scores.T], axis=1)


def matched(scores: np.ndarray, strata: np.ndarray) -> list[dict]:
    """Scorer rows (one per stratum id), with the matched column's top-m test set."""
    s = _unit(scores)
    rows = []
    for rec in score_recovery(s, strata):
        col = s[:, int(rec["match_slice"])]
        col = 1 - col if rec["match_complement"] else col
        m = int(rec["n_members"])
        top = set(np.argsort(-col, kind="stable")[:m].tolist())
        rows.append({"stratum_id": rec["stratum_id"], "ap": rec["ap"], "p_at_10": rec["p_at_10"],
                     "top": top})
    return rows


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(len(a | b), 1)


def compare(pair: str, name: str, run_ours, run_theirs, strata, states=(0, 1, 2)) -> dict:
    """Agreement of one pair on one input over several random states."""
    t0 = time.perf_counter()
    o = {rs: matched(run_ours(rs), strata) for rs in states}
    t = {rs: matched(run_theirs(rs), strata) for rs in states}
    ap_o = [r["ap"] for rs in states for r in o[rs]]
    ap_t = [r["ap"] for rs in states for r in t[rs]]
    p_o = [r["p_at_10"] for rs in states for r in o[rs]]
    p_t = [r["p_at_10"] for rs in states for r in t[rs]]
    overlap = [jaccard(a["top"], b["top"]) for rs in states for a, b in zip(o[rs], t[rs])]
    noise = [jaccard(a["top"], b["top"]) for r1, r2 in zip(states, states[1:])
             for a, b in zip(t[r1], t[r2])]
    return {"pair": pair, "input": name, "ap_ours": float(np.mean(ap_o)), "ap_theirs": float(np.mean(ap_t)),
            "p10_ours": float(np.mean(p_o)), "p10_theirs": float(np.mean(p_t)),
            "ap_theirs_sd": float(np.std([np.mean([r["ap"] for r in t[rs]]) for rs in states])),
            "overlap": float(np.mean(overlap)), "overlap_noise": float(np.mean(noise)) if noise else float("nan"),
            "seconds": time.perf_counter() - t0}


def run_all(args) -> list[dict]:
    site, ma_file = Path(args.site), Path(args.multiaccuracy_file)
    inputs = planted_inputs(args.seed)
    for spec in args.tasks:
        dataset, kind = spec.split(":")
        inputs += real_inputs(dataset, kind, args.seed)
    binary = planted_inputs(args.seed, n_classes=2) + [i for i in inputs if i[1].n_classes == 2 and "planted" not in i[0]]
    results = []
    for name, val, test, strata in inputs:
        def dm(**p):
            return lambda rs: ours("domino_mixture", val, test, rs, **{"n_components": max(25, val.n_classes**2), **p})
        for gamma in (1.0, 10.0):
            results.append(compare(f"domino_mixture γ={gamma:g}", name, dm(y_weight=gamma, y_hat_weight=gamma),
                                   lambda rs: theirs_domino(site, val, test, rs), strata))
        results.append(compare("failure_directions", name, lambda rs: ours("failure_directions", val, test, rs),
                               lambda rs: transcribed_failure_directions(val, test, rs), strata, states=(0,)))
        if not args.skip_spotlight:
            results.append(compare("spotlight", name, lambda rs: ours("spotlight", val, test, rs),
                                   lambda rs: theirs_spotlight(site, val, test, rs), strata, states=(0,)))
        print(to_markdown(results[-4 + args.skip_spotlight:]), flush=True)
    for name, val, test, strata in binary:
        results.append(compare("multiaccuracy", name, lambda rs: ours("multiaccuracy", val, test, rs),
                               lambda rs: theirs_multiaccuracy(site, ma_file, val, test, rs), strata))
        print(to_markdown(results[-1:]), flush=True)
    return results


def to_markdown(results: list[dict]) -> str:
    head = ("| ours ← reference | input | AP ours | AP ref (sd over rs) | P@10 ours | P@10 ref | "
            "overlap ours/ref | overlap ref rs/rs+1 |\n|---|---|---|---|---|---|---|---|\n")
    rows = [f"| {r['pair']} | {r['input']} | {r['ap_ours']:.3f} | {r['ap_theirs']:.3f} ({r['ap_theirs_sd']:.3f}) | "
            f"{r['p10_ours']:.2f} | {r['p10_theirs']:.2f} | {r['overlap']:.2f} | {r['overlap_noise']:.2f} |"
            for r in results]
    return head + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", required=True, help="folder where domino 0.1.5 was pip-installed")
    parser.add_argument("--multiaccuracy-file", required=True, help="domino's _slice/multiaccuracy.py")
    parser.add_argument("--seed", type=int, default=100, help="task/model seed (a development seed)")
    parser.add_argument("--tasks", nargs="*", default=["bloodmnist:rare_subclass", "pneumoniamnist:spurious_marker"])
    parser.add_argument("--skip-spotlight", action="store_true")
    parser.add_argument("--out", default="fidelity.json")
    args = parser.parse_args()
    results = run_all(args)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
