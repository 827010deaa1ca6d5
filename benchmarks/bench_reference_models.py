"""Accuracy and training time of the reference models on clean official MedMNIST (28 px).

Not part of the test run. Trains the default model (and, unless ``--skip-resnet``, the ResNet-18
option) on the official train split, selects the checkpoint on val, and reports test ACC and AUC
(AUC: binary ROC AUC; multi-class: macro one-vs-rest, as MedMNIST's ``getAUC``), wall time and
process CPU time of training, and the load average (the CPU may be shared with other jobs).

    python benchmarks/bench_reference_models.py --seeds 0 1 2 --resnet-epochs 3 --out bench.json

Each row also holds test balanced accuracy, the test majority rate and the epochs run. The
reproduction table of docs/models.md (mean ± std over seeds, references, targets, verdicts) is made
from these rows by ``benchmarks/reproduction_table.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from medstrata.models.data import SplitArrays
from medstrata.models.outputs import probs_and_losses
from medstrata.models.recipe import SELECT_METRIC, selection_score, val_metrics
from medstrata.models.train import fit_reference, for_image_kind, predict, resolve_spec

# MedMNIST v2 (test ACC, AUC); see benchmarks/reproduction_table.py for the sources and targets.
_REF = {"bloodmnist": (0.958, 0.998), "organamnist": (0.935, 0.997), "pneumoniamnist": (0.854, 0.944),
        "breastmnist": (0.863, 0.901), "retinamnist": (0.524, 0.717),
        "adrenalmnist3d": (0.721, 0.827), "vesselmnist3d": (0.877, 0.874)}
REFERENCE_ACC = {k: v[0] for k, v in _REF.items()}
REFERENCE_AUC = {k: v[1] for k, v in _REF.items()}


def load_flag(root: Path, flag: str) -> dict[str, SplitArrays]:
    """Official splits as SplitArrays with ids ``f"{flag}-28-{split}-{i:06d}"``."""
    with np.load(root / f"{flag}.npz", allow_pickle=False) as z:
        return {
            s: SplitArrays(np.array([f"{flag}-28-{s}-{i:06d}" for i in range(len(z[f"{s}_labels"]))]),
                           z[f"{s}_images"], z[f"{s}_labels"].reshape(-1).astype(np.int64))
            for s in ("train", "val", "test")
        }


def auc(labels: np.ndarray, probs: np.ndarray) -> float:
    if probs.shape[1] == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    return float(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))


def run_one(flag: str, data: dict[str, SplitArrays], spec: dict, seed: int, threads: int) -> dict:
    spec = for_image_kind(spec, data["train"].kind, flag)  # the dataset's defaults, as a suite gets them
    n_classes = int(data["train"].labels.max()) + 1
    load_before = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    model, history = fit_reference(data["train"], data["val"], n_classes, spec, seed, threads, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    logits, _ = predict(model, data["test"])
    probs, _ = probs_and_losses(logits, data["test"].labels)
    rule = resolve_spec(spec, data["train"].kind)["select"]
    key = SELECT_METRIC.get(rule)
    best = len(history) - 1 if key is None else max(
        range(len(history)), key=lambda i: (selection_score(history[i], rule), i))
    test = val_metrics(logits, data["test"].labels)
    counts = np.bincount(data["test"].labels, minlength=n_classes)
    return {
        "flag": flag, "seed": seed, "spec": resolve_spec(spec, data["train"].kind),
        "test_acc": float((probs.argmax(1) == data["test"].labels).mean()),
        "test_auc": auc(data["test"].labels, probs), "test_bal_acc": test["bal_acc"],
        "test_majority_rate": float(counts.max() / counts.sum()), "epochs": len(history),
        "best_val_acc": history[best]["val_acc"], "best_epoch": best, "train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
        "epoch_wall_s": [round(h["seconds"], 1) for h in history],
        "loadavg_1min_before": round(load_before, 2), "loadavg_1min_after": round(os.getloadavg()[0], 2),
        "ref_acc": REFERENCE_ACC.get(flag), "ref_auc": REFERENCE_AUC.get(flag), "threads": threads,
    }


def table(rows: list[dict]) -> str:
    lines = ["| dataset | arch | epochs | seed | test ACC | test AUC | ref ACC | train wall s | train CPU s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['flag']} | {r['spec']['arch']} (w{r['spec']['width']}) | {r['spec']['epochs']} | "
                     f"{r['seed']} | {r['test_acc']:.4f} | {r['test_auc']:.4f} | {r['ref_acc']} | "
                     f"{r['train_wall_s']} | {r['train_cpu_s']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path,
                    default=Path(os.environ.get("MEDSTRATA_DATA_ROOT", "/work/shared/data/medmnist")))
    ap.add_argument("--flags", nargs="+", default=["bloodmnist", "pneumoniamnist"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resnet-epochs", type=int, default=3, help="epoch budget of the ResNet-18 option")
    ap.add_argument("--resnet-seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--out", type=Path, help="write all rows as JSON here")
    args = ap.parse_args(argv)
    runs = [({}, args.seeds)]
    if not args.skip_resnet:
        runs.append(({"arch": "resnet18", "epochs": args.resnet_epochs}, args.resnet_seeds))
    rows = []
    for flag in args.flags:
        data = load_flag(args.data_root, flag)
        for spec, seeds in runs:
            for seed in seeds:
                rows.append(run_one(flag, data, spec, seed, args.threads))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(table(rows))
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads={args.threads}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
