"""Shortcut AUROC and (optionally) reference-model harm of a stratum, for choosing injector defaults.

Not part of the test run. Builds the task in memory, then per stratum and split (val by default):
* the best within-class AUROC of the global statistic battery (member vs non-member, clean labels);
* with ``--pca``, the cross-validated pixel-PCA probe AUROC;
* with ``--harm``, trains the default reference model (train split, checkpoint chosen on val) and
  reports acc(c, s=0) - acc(c, s=k) on val against the clean labels, c = the stratum's class.

    python benchmarks/strata_validity.py bloodmnist spurious_marker --seeds 100 101 102 --harm \
        --param conspicuity=0.5
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from medstrata.data.source import load_source
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import _parse_value, resolve_spec
from medstrata.validity.shortcuts import pca_probe_auroc, shortcut_auroc


def _params(items: list[str], kinds: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {k: {} for k in kinds}
    for item in items:
        key, value = item.split("=", 1)
        kind, name = key.split(".", 1) if "." in key else (kinds[0], key)
        out[kind][name] = _parse_value(value)
    return out


def shortcut_rows(task, splits: tuple[str, ...], pca: bool) -> list[dict]:
    m = task.manifest.to_pandas()
    rows = []
    for col in [c for c in m.columns if c.startswith("stratum_")]:
        for split in splits:
            sel = (m.split == split).to_numpy()
            s, y = m[col].to_numpy()[sel], m.clean_label.to_numpy()[sel]
            for k in sorted(set(s[s > 0].tolist())):
                cls = int(np.bincount(y[s == k]).argmax())
                in_c = y == cls
                member = (s == k)[in_c]
                images = task.images[sel][in_c]
                sc = shortcut_auroc(images, np.zeros(len(images), int), member)
                row = {"stratum": col[8:], "k": k, "split": split, "cls": cls, "members": int(member.sum()),
                       "nonmembers": int((~member).sum()), "best_stat": sc["best_statistic"],
                       "best_auroc": round(sc["best_auroc"], 3)}
                if pca:
                    row["pca_auroc"] = round(pca_probe_auroc(images, np.zeros(len(images), int), member)["best_auroc"], 3)
                rows.append(row)
    return rows


def harm_rows(task, seed: int, threads: int) -> list[dict]:
    from medstrata.models.data import SplitArrays
    from medstrata.models.train import fit_reference, predict

    m = task.manifest.to_pandas()
    arrays = {}
    for split in ("train", "val"):
        sel = (m.split == split).to_numpy()
        arrays[split] = SplitArrays(m.sample_id.to_numpy()[sel], task.images[sel], m.label.to_numpy()[sel])
    n_classes = len(task.info["class_names"])
    t0 = time.perf_counter()
    model, _ = fit_reference(arrays["train"], arrays["val"], n_classes, {}, seed, threads, progress=False)
    pred = predict(model, arrays["val"])[0].argmax(1)
    sel = (m.split == "val").to_numpy()
    y = m.clean_label.to_numpy()[sel]
    ok = pred == y
    rows = []
    for col in [c for c in m.columns if c.startswith("stratum_")]:
        s = m[col].to_numpy()[sel]
        for k in sorted(set(s[s > 0].tolist())):
            cls = int(np.bincount(y[s == k]).argmax())
            a0, ak = ok[(y == cls) & (s == 0)].mean(), ok[(y == cls) & (s == k)].mean()
            rows.append({"stratum": col[8:], "k": k, "cls": cls, "n_val_members": int(((y == cls) & (s == k)).sum()),
                         "acc_s0": round(float(a0), 3), "acc_sk": round(float(ak), 3),
                         "gap_pts": round(100 * float(a0 - ak), 1),
                         "errors_of_cls_predicted_as": np.bincount(pred[(y == cls) & ~ok], minlength=n_classes).tolist(), "val_acc": round(float(ok.mean()), 3),
                         "train_s": round(time.perf_counter() - t0, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("kinds", help="comma-separated stratum kinds")
    ap.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    ap.add_argument("--target", default=None, help="task target (e.g. official); dataset default if omitted")
    ap.add_argument("--param", nargs="*", default=[], help="[kind.]name=value")
    ap.add_argument("--splits", nargs="+", default=["val"])
    ap.add_argument("--pca", action="store_true")
    ap.add_argument("--harm", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    params = _params(args.param, kinds)
    source = load_source(args.dataset)
    for seed in args.seeds:
        spec = resolve_spec(args.dataset, 28, seed, args.target, [(k, params[k]) for k in kinds])
        t0 = time.perf_counter()
        task = build_task(spec, source)
        build_s = round(time.perf_counter() - t0, 2)
        for row in shortcut_rows(task, tuple(args.splits), args.pca):
            print(json.dumps({"seed": seed, "build_s": build_s, **row}))
        if args.harm:
            for row in harm_rows(task, seed, args.threads):
                print(json.dumps({"seed": seed, "harm": True, **row}))


if __name__ == "__main__":
    main()
