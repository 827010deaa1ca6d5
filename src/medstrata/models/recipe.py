"""Training-recipe rules that depend on the data: epoch budget, class weights, checkpoint score.

* **Step floor** (:func:`epochs_for`): a recipe set only in epochs trains a small dataset for very few
  optimisation steps (BreastMNIST: 546 images at batch 128 are 4 steps per epoch). The number of
  epochs is raised until the run takes at least ``min_steps`` optimiser steps; a large dataset that
  already gets that many keeps its epoch count, and so its speed.
* **Class weights** (:func:`class_weights`): ``"balanced"`` weighs class c by
  ``n / (C * n_c)`` (the rule of King & Zeng 2001, also scikit-learn's ``class_weight="balanced"``),
  so each class contributes the same total weight to the cross-entropy. A class absent from train
  gets weight 0. ``"none"`` is plain cross-entropy.
* **Per-dataset defaults** (:data:`DATASET_DEFAULTS`, applied by
  :func:`medstrata.models.train.for_image_kind`): the few datasets whose default differs.
* **Checkpoint score** (:func:`val_metrics`, :data:`SELECT_METRIC`): the per-epoch val metrics, and
  which one each ``select`` rule maximises. Balanced accuracy is the mean per-class recall over the
  classes present in val; AUC is binary ROC AUC, or macro one-vs-rest for more than two classes
  (MedMNIST's ``getAUC``), NaN when val holds a single class.

References:
    King, Zeng. "Logistic Regression in Rare Events Data." Political Analysis 9(2), 2001.
    Brodersen, Ong, Stephan, Buhmann. "The balanced accuracy and its posterior distribution."
    ICPR 2010.
    Yang et al. "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
    classification." Scientific Data 10, 41 (2023).
"""

from __future__ import annotations

import math

import numpy as np

#: Per-dataset defaults of the 2-D small CNN: between the architecture's defaults and whatever a suite
#: or user sets explicitly (an explicit ``epochs`` always wins). Each entry is a decision on val of
#: development seeds, logged in docs/models.md ("Decision log").
#: organamnist: 4 epochs (1,080 steps) instead of 7 (1,890): the 2-min training budget on 2 cores.
DATASET_DEFAULTS: dict[str, dict] = {"organamnist": {"epochs": 4}}

#: ``select`` rule -> the history key it maximises (ties go to the later epoch).
SELECT_METRIC = {"best_val_acc": "val_acc", "best_val_bal_acc": "val_bal_acc", "best_val_auc": "val_auc"}
CLASS_WEIGHTS = ("none", "balanced")


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimiser steps in one epoch: ``n_train // min(batch_size, n_train)``, at least 1 (the ragged
    last batch is dropped)."""
    if n_train < 1 or batch_size < 1:
        raise ValueError(f"need n_train >= 1 and batch_size >= 1, got {n_train}, {batch_size}")
    return max(1, n_train // min(batch_size, n_train))


def epochs_for(epochs: int, min_steps: int, n_train: int, batch_size: int) -> int:
    """Epochs to run: ``max(epochs, ceil(min_steps / steps_per_epoch))``.

    Example: BreastMNIST (546 train images, batch 128 -> 4 steps per epoch), ``epochs=7``,
    ``min_steps=400`` -> 100 epochs; BloodMNIST (11,959 -> 93 steps per epoch) keeps 7.
    """
    if epochs < 1 or min_steps < 0:
        raise ValueError(f"need epochs >= 1 and min_steps >= 0, got {epochs}, {min_steps}")
    return max(epochs, math.ceil(min_steps / steps_per_epoch(n_train, batch_size)))


def class_weights(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray | None:
    """Per-class loss weights (C,) float32 for ``mode="balanced"``; ``None`` for ``"none"``.

    Args:
        labels: (n,) int training labels in [0, n_classes).
        n_classes: C.
        mode: one of :data:`CLASS_WEIGHTS`.
    """
    if mode not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight {mode!r}; expected one of {CLASS_WEIGHTS}")
    if mode == "none":
        return None
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    weights = np.zeros(n_classes)
    present = counts > 0
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def val_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, mean cross-entropy, balanced accuracy and AUC of logits (n, C) against labels (n,).

    Returns:
        {"acc", "loss", "bal_acc", "auc"}; all NaN when n == 0, AUC NaN when one class is present.
    """
    if len(labels) == 0:
        return {"acc": float("nan"), "loss": float("nan"), "bal_acc": float("nan"), "auc": float("nan")}
    z = logits.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    logp = z - (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))
    pred = z.argmax(1)
    classes = np.unique(labels)
    recalls = [float((pred[labels == c] == c).mean()) for c in classes]
    return {"acc": float((pred == labels).mean()), "loss": float(-logp[np.arange(len(labels)), labels].mean()),
            "bal_acc": float(np.mean(recalls)), "auc": _auc(np.exp(logp), labels, classes)}


def _auc(probs: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    """Binary ROC AUC of column 1, or macro one-vs-rest over the present classes; NaN if one class."""
    from sklearn.metrics import roc_auc_score

    if len(classes) < 2:
        return float("nan")
    if probs.shape[1] == 2:
        return float(roc_auc_score(labels, probs[:, 1]))
    return float(np.mean([roc_auc_score(labels == c, probs[:, c]) for c in classes]))


def selection_score(record: dict[str, float], select: str) -> float:
    """The value ``select`` maximises in one epoch's history record; NaN counts as -inf."""
    value = record[SELECT_METRIC[select]]
    return -math.inf if value != value else float(value)
