"""Recipe rules: the step floor, balanced class weights, val metrics and checkpoint scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medstrata.models import recipe


def test_steps_per_epoch_drops_ragged_batch_and_caps_batch_at_n() -> None:
    assert recipe.steps_per_epoch(546, 128) == 4
    assert recipe.steps_per_epoch(11959, 128) == 93
    assert recipe.steps_per_epoch(20, 128) == 1  # batch shrinks to n
    with pytest.raises(ValueError, match="n_train"):
        recipe.steps_per_epoch(0, 128)


@pytest.mark.parametrize("n,epochs,min_steps,expected", [
    (546, 7, 400, 100),     # BreastMNIST: 4 steps per epoch -> 100 epochs reach 400 steps
    (546, 7, 401, 101),     # one step more needs one epoch more (ceil)
    (11959, 7, 400, 7),     # BloodMNIST already makes 651 steps in 7 epochs: unchanged
    (4708, 7, 0, 7),        # no floor
    (1080, 7, 100, 13),     # RetinaMNIST: 8 steps per epoch
])
def test_epochs_for_reaches_the_step_floor_and_keeps_large_sets(n: int, epochs: int, min_steps: int,
                                                                 expected: int) -> None:
    got = recipe.epochs_for(epochs, min_steps, n, 128)
    assert got == expected
    assert got * recipe.steps_per_epoch(n, 128) >= min_steps
    assert got == epochs or (got - 1) * recipe.steps_per_epoch(n, 128) < min_steps  # the smallest such


def test_balanced_class_weights_equalise_class_totals() -> None:
    labels = np.array([0] * 90 + [1] * 10 + [2] * 0 + [3] * 20)
    w = recipe.class_weights(labels, 4, "balanced")
    assert w.dtype == np.float32 and w.shape == (4,)
    counts = np.bincount(labels, minlength=4)
    totals = w * counts
    assert np.allclose(totals[[0, 1, 3]], totals[0])  # every present class carries the same total weight
    assert w[2] == 0  # an absent class gets no weight
    assert np.isclose(totals.sum(), len(labels))  # mean weight per sample is 1
    assert w[1] == pytest.approx(120 / (3 * 10))
    assert recipe.class_weights(labels, 4, "none") is None
    with pytest.raises(ValueError, match="class_weight"):
        recipe.class_weights(labels, 4, "inverse")


def test_val_metrics_on_a_majority_predictor() -> None:
    labels = np.array([0] * 8 + [1] * 2)
    logits = np.zeros((10, 2))
    logits[:, 0] = 1.0  # always predicts class 0
    logits[8, 0] = 0.5  # ...but ranks one positive above the negatives
    m = recipe.val_metrics(logits, labels)
    assert m["acc"] == pytest.approx(0.8) and m["bal_acc"] == pytest.approx(0.5)
    assert m["auc"] == pytest.approx((8 + 0.5 * 8) / 16)  # one positive above all, one tied with all
    assert m["loss"] == pytest.approx(np.mean(np.log1p(np.exp(-np.abs(logits[:, 0]))) +
                                              np.where(labels == 1, np.abs(logits[:, 0]), 0)))


def test_val_metrics_multiclass_auc_is_macro_ovr_and_nan_for_one_class() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    logits = np.eye(3)[labels] * 3 + rng.normal(size=(60, 3))
    from sklearn.metrics import roc_auc_score

    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = recipe.val_metrics(logits, labels)
    assert m["auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr", average="macro"))
    assert math.isnan(recipe.val_metrics(logits[labels == 0], labels[labels == 0])["auc"])
    assert all(math.isnan(v) for v in recipe.val_metrics(np.zeros((0, 3)), np.zeros(0, int)).values())


def test_selection_score_reads_the_rule_and_ranks_nan_last() -> None:
    rec = {"val_acc": 0.9, "val_bal_acc": 0.6, "val_auc": float("nan")}
    assert recipe.selection_score(rec, "best_val_acc") == 0.9
    assert recipe.selection_score(rec, "best_val_bal_acc") == 0.6
    assert recipe.selection_score(rec, "best_val_auc") == -math.inf


def test_dataset_defaults_sit_between_the_arch_defaults_and_an_explicit_spec():
    from medstrata.models.recipe import DATASET_DEFAULTS
    from medstrata.models.train import for_image_kind, resolve_spec

    epochs = DATASET_DEFAULTS["organamnist"]["epochs"]
    assert resolve_spec(for_image_kind({"arch": "small_cnn"}, "2d", "organamnist"), "2d")["epochs"] == epochs
    assert resolve_spec(for_image_kind({}, "2d", "organamnist"), "2d")["epochs"] == epochs
    assert for_image_kind({"epochs": 9}, "2d", "organamnist")["epochs"] == 9  # explicit wins
    assert "epochs" not in for_image_kind({"arch": "resnet18"}, "2d", "organamnist")  # tuned for small_cnn only
    assert for_image_kind({"arch": "small_cnn"}, "2d", "bloodmnist") == {"arch": "small_cnn"}
    assert for_image_kind({}, "3d", "organamnist") == {}


@pytest.mark.parametrize("n_train,expected", [(11959, 2), (34581, 2), (546, 2), (1188, 2)])
def test_jtt_identification_model_trains_exactly_t_epochs(n_train: int, expected: int) -> None:
    """JTT's identification model is *briefly* trained: T = 2 epochs whatever the dataset size (the
    reference recipe's step floor would make it 6 epochs on BloodMNIST, 125 on BreastMNIST)."""
    from medstrata.models.identification import identification_spec
    from medstrata.models.train import resolve_spec

    spec = resolve_spec(identification_spec({"arch": "small_cnn"}), "2d_rgb")
    assert spec["min_steps"] == 0 and spec["schedule"] == "constant"
    assert recipe.epochs_for(spec["epochs"], spec["min_steps"], n_train, spec["batch_size"]) == expected
    reference = resolve_spec({"arch": "small_cnn"}, "2d_rgb")
    assert recipe.epochs_for(2, reference["min_steps"], 11959, 128) == 6  # what the floor would give
