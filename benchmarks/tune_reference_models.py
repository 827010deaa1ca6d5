"""Compare reference-model recipes on VAL of development seeds (never test).

Not part of the test run. For each dataset, recipe (a JSON model spec) and development seed it trains
the model on the official train split, selects the checkpoint on val as the recipe says, and records
the val metrics of the selected checkpoint (acc, balanced acc, AUC), the best epoch and the train
time. Test images are never loaded. The decision log in docs/models.md cites these runs.

    python benchmarks/tune_reference_models.py --flags breastmnist --seeds 100 101 102 \
        --recipe '{}' --recipe '{"min_steps": 400}' --out tune_breast.jsonl

Val metrics of the selected checkpoint are optimistic (the checkpoint was chosen on val); they are
compared between recipes that share this bias.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from medstrata.models.data import SplitArrays
from medstrata.models.recipe import val_metrics
from medstrata.models.train import fit_reference, predict, resolve_spec


def load_train_val(root: Path, flag: str) -> dict[str, SplitArrays]:
    """Official train and val splits only (test stays unread)."""
    with np.load(root / f"{flag}.npz", allow_pickle=False) as z:
        return {
            s: SplitArrays(np.array([f"{flag}-28-{s}-{i:06d}" for i in range(len(z[f"{s}_labels"]))]),
                           z[f"{s}_images"], z[f"{s}_labels"].reshape(-1).astype(np.int64))
            for s in ("train", "val")
        }


def run_one(flag: str, data: dict[str, SplitArrays], spec: dict, seed: int, threads: int) -> dict:
    n_classes = int(data["train"].labels.max()) + 1
    load = os.getloadavg()[0]
    wall = time.perf_counter()
    model, history = fit_reference(data["train"], data["val"], n_classes, spec, seed, threads, progress=False)
    wall = time.perf_counter() - wall
    m = val_metrics(predict(model, data["val"])[0], data["val"].labels)
    resolved = resolve_spec(spec, data["train"].kind)
    best = max(range(len(history)), key=lambda i: np.nan_to_num(
        history[i][{"last": "epoch"}.get(resolved["select"], "val_acc")], nan=-1))
    return {"flag": flag, "seed": seed, "recipe": spec, "val_acc": m["acc"], "val_bal_acc": m["bal_acc"],
            "val_auc": m["auc"], "epochs": len(history), "best_val_acc_epoch": best,
            "train_wall_s": round(wall, 1), "loadavg_1min_before": round(load, 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2),
            "history": [{k: round(v, 4) for k, v in h.items()} for h in history]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path,
                    default=Path(os.environ.get("MEDSTRATA_DATA_ROOT", "/work/shared/data/medmnist")))
    ap.add_argument("--flags", nargs="+", required=True)
    ap.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102])
    ap.add_argument("--recipe", action="append", type=json.loads, required=True, help="JSON model spec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True, help="append one JSON line per run")
    args = ap.parse_args(argv)
    if any(s < 100 for s in args.seeds):
        ap.error("tuning uses development seeds (>= 100); seeds 0, 1, 2 are for evaluation only")
    for flag in args.flags:
        data = load_train_val(args.data_root, flag)
        for spec in args.recipe:
            for seed in args.seeds:
                row = run_one(flag, data, spec, seed, args.threads)
                with args.out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{flag} {json.dumps(spec)} seed {seed}: val acc {row['val_acc']:.4f} bal "
                      f"{row['val_bal_acc']:.4f} auc {row['val_auc']:.4f} epochs {row['epochs']} "
                      f"{row['train_wall_s']} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
