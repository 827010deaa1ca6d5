"""Worst-group metrics of the reference model on test (WILDS / SubpopBench style).

Inputs: ``labels (n,)`` int class ids in [0, C), ``probs (n, C)`` predicted class probabilities,
``strata (n,)`` int true stratum ids (0 = in no stratum). Prediction = ``argmax(probs)`` (lowest
class on ties).

**Groups** are class x stratum: the key of sample i is ``(labels[i], strata[i])``, written
``"y{label}_s{stratum}"``. Only groups present in test exist. A group with fewer than
``min_group_size`` test samples (default 1, i.e. none skipped) is *skipped*: it is left out of every
worst-group and group-average number below and counted in ``n_groups_skipped``.

Keys of the returned flat dict:

* ``acc_avg``: accuracy over all n test samples.
* ``acc_wg``: the lowest group accuracy; ``worst_group`` its key (ties: smallest (label, stratum)).
* ``gap_rel = (acc_avg - acc_wg) / acc_avg`` (NaN when acc_avg = 0).
* ``acc_group_mean``: plain, unweighted mean of the group accuracies.
* ``acc_adjusted``: mean of the group accuracies weighted by the **training** group sizes
  ``train_group_sizes[(label, stratum)]`` (a test group missing from it weighs 0). NaN when no
  training sizes are given or all weights are 0.
* ``auroc_avg``: the MedMNIST AUC: binary (C = 2): AUROC of ``probs[:, 1]`` for label 1; C > 2:
  unweighted mean over classes c of the one-vs-rest AUROC of ``probs[:, c]`` for label c (classes
  absent from test, or the only class present, are left out).
* ``auroc_wg``: for each group g = (c, s): AUROC of the class-c score ``probs[:, c]`` with the
  members of g as positives and every test sample whose label is not c as negatives (for C = 2
  and c = 0 this is the AUROC of ``probs[:, 0]``, i.e. of ``1 - probs[:, 1]``, ranking class 0
  first).
  ``auroc_wg`` is the lowest of these; ``worst_group_auroc`` its key. Groups of a class with no
  negatives (a single class in test) have no AUROC and are ignored.
* ``n``, ``n_groups`` (groups used), ``n_groups_skipped``.
* With ``per_group=True``: ``acc_{key}``, ``auroc_{key}`` and ``n_{key}`` for every group, skipped
  ones included.

Citation::

    Koh et al., "WILDS: A Benchmark of in-the-Wild Distribution Shifts", ICML 2021 (flat metric
    keys, worst-group accuracy, train-proportion "adjusted" average).
    Yang et al., "Change is Hard: A Closer Look at Subpopulation Shift" (SubpopBench), ICML 2023.
    Sagawa et al., "Distributionally Robust Neural Networks" (GroupDRO), ICLR 2020.
    Yang et al., "MedMNIST v2", Scientific Data 2023 (AUC definition).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike

from medstrata.scoring.binary import auroc
from medstrata.scoring.recovery import as_strata

GroupKey = tuple[int, int]


def group_name(key: GroupKey) -> str:
    """``(label, stratum) -> "y{label}_s{stratum}"``."""
    return f"y{key[0]}_s{key[1]}"


def _check_inputs(labels: ArrayLike, probs: ArrayLike, strata: ArrayLike):
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, C) with C >= 2, got {p.shape}")
    if p.shape[0] == 0 or not np.isfinite(p).all():
        raise ValueError("probs must be non-empty and finite")
    y = np.asarray(labels)
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be int of shape ({p.shape[0]},), got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must lie in [0, {p.shape[1]})")
    return y.astype(np.int64), p, as_strata(strata, p.shape[0])


def group_keys(labels: np.ndarray, strata: np.ndarray) -> list[GroupKey]:
    """Sorted (label, stratum) keys present in the data."""
    pairs = np.unique(np.stack([labels, strata], axis=1), axis=0)
    return [(int(a), int(b)) for a, b in pairs]


def group_auroc(probs: np.ndarray, labels: np.ndarray, in_group: np.ndarray, cls: int) -> float:
    """AUROC of ``probs[:, cls]``: group members (positives) vs samples of other classes."""
    keep = in_group | (labels != cls)
    return auroc(probs[keep, cls], in_group[keep])


def auroc_average(labels: np.ndarray, probs: np.ndarray) -> float:
    """MedMNIST AUC: binary AUROC of ``probs[:, 1]``, else macro OvR over classes present."""
    if probs.shape[1] == 2:
        return auroc(probs[:, 1], labels == 1)
    per_class = [auroc(probs[:, c], labels == c) for c in range(probs.shape[1])]
    finite = [v for v in per_class if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _per_group(labels, probs, strata) -> dict[GroupKey, tuple[int, float, float]]:
    correct = probs.argmax(axis=1) == labels
    out = {}
    for key in group_keys(labels, strata):
        in_group = (labels == key[0]) & (strata == key[1])
        out[key] = (int(in_group.sum()), float(correct[in_group].mean()),
                    group_auroc(probs, labels, in_group, key[0]))
    return out


def _worst(values: Mapping[GroupKey, float]) -> tuple[float, str]:
    finite = {k: v for k, v in values.items() if not math.isnan(v)}
    if not finite:
        return math.nan, ""
    key = min(sorted(finite), key=lambda k: finite[k])  # first minimum in sorted key order
    return finite[key], group_name(key)


def _adjusted(acc: Mapping[GroupKey, float], train_sizes: Mapping[GroupKey, int] | None) -> float:
    if train_sizes is None:
        return math.nan
    weights = {k: float(train_sizes.get(k, 0)) for k in acc}
    if any(w < 0 for w in weights.values()):
        raise ValueError("train_group_sizes must be >= 0")
    total = sum(weights.values())
    return sum(weights[k] * acc[k] for k in acc) / total if total > 0 else math.nan


def worst_group_metrics(
    labels: ArrayLike,
    probs: ArrayLike,
    strata: ArrayLike,
    train_group_sizes: Mapping[GroupKey, int] | None = None,
    min_group_size: int = 1,
    per_group: bool = True,
) -> dict[str, Any]:
    """Worst-group accuracy and AUROC over class x stratum groups (definitions: module docstring).

    Args:
        labels: (n,) int class ids in [0, C).
        probs: (n, C) float predicted probabilities.
        strata: (n,) int stratum ids (0 = in no stratum).
        train_group_sizes: ``{(label, stratum): n_train}``, e.g. a ``collections.Counter``; used
            only by ``acc_adjusted``.
        min_group_size: groups with fewer test samples are skipped.
        per_group: also emit ``acc_/auroc_/n_{group}`` keys.

    Returns:
        Flat dict with the keys listed in the module docstring.
    """
    y, p, s = _check_inputs(labels, probs, strata)
    groups = _per_group(y, p, s)
    used = {k: v for k, v in groups.items() if v[0] >= min_group_size}
    acc = {k: v[1] for k, v in used.items()}
    acc_avg = float((p.argmax(axis=1) == y).mean())
    acc_wg, worst = _worst(acc)
    auroc_wg, worst_auroc = _worst({k: v[2] for k, v in used.items()})
    out: dict[str, Any] = {
        "n": len(y), "acc_avg": acc_avg, "acc_wg": acc_wg, "worst_group": worst,
        "gap_rel": (acc_avg - acc_wg) / acc_avg if acc_avg > 0 else math.nan,
        "acc_group_mean": float(np.mean(list(acc.values()))) if acc else math.nan,
        "acc_adjusted": _adjusted(acc, train_group_sizes),
        "auroc_avg": auroc_average(y, p), "auroc_wg": auroc_wg, "worst_group_auroc": worst_auroc,
        "n_groups": len(used), "n_groups_skipped": len(groups) - len(used),
    }
    if per_group:
        for key, (n_g, acc_g, auroc_g) in groups.items():
            name = group_name(key)
            out.update({f"acc_{name}": acc_g, f"auroc_{name}": auroc_g, f"n_{name}": n_g})
    return out
