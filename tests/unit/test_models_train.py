"""Training: determinism, learning a synthetic task, every data kind, the ResNet-18 option, specs."""

from __future__ import annotations

import numpy as np
import pytest

from medstrata.errors import SpecError
from medstrata.models.data import toy_splits

torch = pytest.importorskip("torch")

from medstrata.models import augment  # noqa: E402
from medstrata.models.train import evaluate, fit_reference, resolve_spec, train_reference  # noqa: E402

FAST = {"width": 8, "epochs": 5, "batch_size": 16, "lr": 0.01, "min_steps": 0}


@pytest.fixture(scope="module")
def grey() -> dict:
    return toy_splits(200, "2d_grey", n_classes=3, seed=0)


def _weights(model: "torch.nn.Module") -> list:
    return [v.clone() for v in model.state_dict().values()]


@pytest.mark.slow  # trains a net
def test_same_seed_same_weights_and_probs_different_seed_differs(grey: dict) -> None:
    a = train_reference(grey["train"], grey["val"], 3, FAST, seed=3, progress=False)
    b = train_reference(grey["train"], grey["val"], 3, FAST, seed=3, progress=False)
    c = train_reference(grey["train"], grey["val"], 3, FAST, seed=4, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b)))
    assert not all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(c)))
    x = torch.from_numpy(grey["test"].images[:16, None]).float() / 127.5 - 1
    with torch.no_grad():
        assert torch.equal(a(x), b(x)) and not torch.equal(a(x), c(x))


@pytest.mark.slow  # trains a net
def test_training_does_not_touch_global_rng(grey: dict) -> None:
    before = torch.random.get_rng_state()
    train_reference(grey["train"], grey["val"], 3, {**FAST, "epochs": 1}, seed=0, progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.slow  # trains a net
def test_learns_the_synthetic_task(grey: dict) -> None:
    model, history = fit_reference(grey["train"], grey["val"], 3, FAST, seed=0, progress=False)
    acc, loss = evaluate(model, grey["test"])
    assert acc > 0.9 and loss < 0.5
    assert len(history) == FAST["epochs"] and {"train_loss", "val_acc", "lr"} <= set(history[0])
    assert history[-1]["train_loss"] < history[0]["train_loss"]


@pytest.mark.slow  # trains a net
@pytest.mark.parametrize("kind,size,classes", [("2d_rgb", 28, 3), ("3d", 14, 2)])
def test_rgb_and_3d_paths_learn(kind: str, size: int, classes: int) -> None:
    d = toy_splits(200, kind, n_classes=classes, seed=1, size=size)
    model = train_reference(d["train"], d["val"], classes, FAST, seed=0, progress=False)
    assert evaluate(model, d["test"])[0] > 0.9


@pytest.mark.slow  # trains a net
def test_resnet18_runs_one_tiny_epoch() -> None:
    d = toy_splits(24, "2d_rgb", n_classes=2, seed=2)
    spec = {"arch": "resnet18", "epochs": 1, "batch_size": 8, "min_steps": 0}
    model, history = fit_reference(d["train"], d["val"], 2, spec, seed=0, progress=False)
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    assert model.head.in_features == 512


@pytest.mark.slow  # trains a net
def test_select_best_val_keeps_best_epoch(grey: dict) -> None:
    spec = {**FAST, "epochs": 4, "lr": 0.1, "schedule": "constant"}  # a large constant lr oscillates
    model, history = fit_reference(grey["train"], grey["val"], 3, spec, seed=0, progress=False)
    assert evaluate(model, grey["val"])[0] == pytest.approx(max(h["val_acc"] for h in history))


def test_resolve_spec_defaults_and_errors() -> None:
    spec = resolve_spec({}, "2d_rgb")
    assert spec["arch"] == "small_cnn" and spec["width"] == 32 and spec["epochs"] >= 1
    assert resolve_spec({}, "3d")["arch"] == "small_cnn3d"
    with pytest.raises(SpecError, match="unknown model_spec keys"):
        resolve_spec({"epoch": 3}, "2d_grey")
    with pytest.raises(SpecError, match="does not fit"):
        resolve_spec({"arch": "small_cnn"}, "3d")
    with pytest.raises(SpecError, match="2-D only"):
        resolve_spec({"augment": "crop+hflip"}, "3d")
    with pytest.raises(SpecError, match="precision"):
        resolve_spec({"precision": "fp16"}, "2d_grey")


@pytest.mark.slow  # trains a net
def test_labels_out_of_range(grey: dict) -> None:
    with pytest.raises(ValueError, match="labels"):
        fit_reference(grey["train"], grey["val"], 2, FAST, seed=0, progress=False)


def test_augment_ops_keep_shape_content_and_are_seeded() -> None:
    batch = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    ops = augment.parse("crop+hflip+vflip", "2d_grey")
    a = augment.apply(batch, ops, 2, torch.Generator().manual_seed(0))
    b = augment.apply(batch, ops, 2, torch.Generator().manual_seed(0))
    assert a.shape == batch.shape and a.dtype == torch.uint8 and torch.equal(a, b)
    flipped = augment.random_flip(batch, -1, torch.Generator().manual_seed(1))
    for img, out in zip(batch, flipped):  # each image is either unchanged or mirrored
        assert torch.equal(out, img) or torch.equal(out, img.flip(-1))
    crop = augment.random_crop(batch, 1, torch.Generator().manual_seed(2))
    padded = torch.nn.functional.pad(batch, (1, 1, 1, 1))
    for pimg, out in zip(padded, crop):  # each crop is a 6x6 window of its own padded image
        windows = [pimg[:, dy:dy + 6, dx:dx + 6] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out, w) for w in windows)
    with pytest.raises(SpecError):
        augment.parse("crop+rotate", "2d_grey")


def test_min_steps_raises_the_epoch_count() -> None:
    d = toy_splits(40, "2d_grey", n_classes=2, seed=5)
    spec = {**FAST, "epochs": 1, "batch_size": 16, "min_steps": 5}  # 40 // 16 = 2 steps per epoch
    _, history = fit_reference(d["train"], d["val"], 2, spec, seed=0, progress=False)
    assert len(history) == 3  # ceil(5 / 2)
    assert {"val_bal_acc", "val_auc"} <= set(history[0])
    with pytest.raises(SpecError, match="min_steps"):
        resolve_spec({"min_steps": -1}, "2d_grey")


@pytest.mark.slow  # trains a net
def test_balanced_class_weight_shifts_the_learnt_prior() -> None:
    """Labels carry no signal and 10% are class 1: plain CE learns P(1) near 0.1, the balanced loss
    (each class the same total weight) learns P(1) near 0.5."""
    d = toy_splits(200, "2d_grey", n_classes=2, seed=6)
    rng = np.random.default_rng(0)
    train = type(d["train"])(d["train"].sample_ids, d["train"].images, (rng.random(200) < 0.1).astype(np.int64))
    spec = {**FAST, "epochs": 3, "select": "last"}
    share = {}
    for mode in ("none", "balanced"):
        model = train_reference(train, d["val"], 2, {**spec, "class_weight": mode}, seed=0, progress=False)
        x = torch.from_numpy(d["test"].images[:, None]).float() / 127.5 - 1
        with torch.no_grad():
            share[mode] = float(model(x).softmax(1)[:, 1].mean())
    assert share["none"] < 0.25 and share["balanced"] > 0.35


@pytest.mark.slow  # trains a net
def test_select_best_val_bal_acc_keeps_that_epoch(grey: dict) -> None:
    spec = {**FAST, "epochs": 4, "lr": 0.1, "schedule": "constant", "select": "best_val_bal_acc"}
    model, history = fit_reference(grey["train"], grey["val"], 3, spec, seed=0, progress=False)
    from medstrata.models.recipe import val_metrics
    from medstrata.models.train import predict

    got = val_metrics(predict(model, grey["val"])[0], grey["val"].labels)["bal_acc"]
    assert got == pytest.approx(max(h["val_bal_acc"] for h in history))
