"""Train a reference classifier, deterministically given a seed.

Randomness: the initialisation runs under ``torch.random.fork_rng()`` seeded with
``keyed_seed("medstrata.models", seed, "init")`` (torch initialisers only take the global RNG; the fork
restores it). Shuffling and augmentation draw from a private ``torch.Generator`` seeded with
``keyed_seed("medstrata.models", seed, "data")``. No dropout, so nothing else draws random numbers.
Same seed, same data, same machine and thread count -> bitwise identical weights.

Optimiser: Adam with a one-cycle learning-rate schedule (Smith & Topin, 2019) so that few epochs
suffice; the checkpoint with the best validation accuracy is kept (``select="best_val_acc"``).

References:
    Kingma, Ba. "Adam: A Method for Stochastic Optimization." ICLR 2015.
    Smith, Topin. "Super-Convergence: Very Fast Training of Neural Networks Using Large Learning
    Rates." 2019.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from medstrata.errors import SpecError
from medstrata.hashing import keyed_seed
from medstrata.models.threads import torch_threads
from medstrata.models import augment as aug
from medstrata.models import recipe
from medstrata.models.data import SplitArrays
from medstrata.models.nets import ARCHS, images_to_tensor, init_net, normalise

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Keys of a model spec and their defaults; ``None`` means "per-architecture default" (below).
DEFAULT_SPEC: dict[str, Any] = {
    "arch": "auto",  # small_cnn for 2-D images, small_cnn3d for volumes
    "width": None,
    "epochs": None,
    "lr": 3e-3,  # peak learning rate of the one-cycle schedule
    "batch_size": None,  # the ragged last batch of an epoch is dropped
    "weight_decay": 0.0,
    "augment": None,  # "none" or ops joined by "+": crop (2-D only), hflip, vflip, dflip (3-D only)
    "crop_pad": 2,
    "schedule": "onecycle",  # or "constant"
    "select": None,  # best_val_acc, best_val_bal_acc, best_val_auc (see models.recipe), or last
    "precision": "bf16",  # bf16 autocast for training (fast on CPUs with AMX/AVX512-BF16), or "fp32"
    "min_steps": None,  # step floor: epochs are raised until the run makes this many optimiser steps
    "class_weight": None,  # "none" or "balanced" (cross-entropy weighted by inverse class frequency)
}
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    # Recipe decisions (made on val of development seeds only; what was compared is in the decision
    # log of docs/models.md): 2-D nets get a floor of 500 optimiser steps (BreastMNIST, RetinaMNIST,
    # PneumoniaMNIST train longer; BloodMNIST and OrganAMNIST keep 7 epochs). Volumes are skewed
    # (78% and 89% negatives), so the 3-D net uses the balanced loss and keeps the checkpoint with
    # the best val balanced accuracy.
    "small_cnn": {"width": 32, "epochs": 7, "batch_size": 128, "augment": "crop+hflip", "min_steps": 500,
                  "class_weight": "none", "select": "best_val_acc"},
    "resnet18": {"width": 64, "epochs": 8, "batch_size": 128, "augment": "crop+hflip", "min_steps": 500,
                 "class_weight": "none", "select": "best_val_acc"},
    "small_cnn3d": {"width": 16, "epochs": 10, "batch_size": 128, "augment": "hflip", "min_steps": 0,
                    "class_weight": "balanced", "select": "best_val_bal_acc"},
}
_CHOICES = {"schedule": ("onecycle", "constant"), "select": (*recipe.SELECT_METRIC, "last"),
            "precision": ("bf16", "fp32"), "class_weight": recipe.CLASS_WEIGHTS}


def for_image_kind(model_spec: dict[str, Any], kind: str, dataset: str | None = None) -> dict[str, Any]:
    """A suite's model spec adapted to one task: volumes (``kind == "3d"``) get the 3-D CNN whatever
    2-D architecture the suite names (a suite mixes 2-D and 3-D datasets under one ``model:``), and
    the 2-D small CNN gets ``dataset``'s entries of :data:`~medstrata.models.recipe.DATASET_DEFAULTS`
    for the keys the spec does not set."""
    from medstrata.models.recipe import DATASET_DEFAULTS

    spec = dict(model_spec)
    if kind == "3d" and spec.get("arch", "auto") not in ("auto", "small_cnn3d"):
        spec["arch"] = "small_cnn3d"
    if kind != "3d" and spec.get("arch", "auto") in ("auto", "small_cnn"):
        spec = {**DATASET_DEFAULTS.get(dataset or "", {}), **spec}
    return spec


def resolve_spec(model_spec: dict[str, Any], kind: str) -> dict[str, Any]:
    """Fill defaults and validate. The resolved spec is what the cache key hashes.

    Raises:
        SpecError: unknown key, unknown arch, or an arch that does not fit the data kind.
    """
    unknown = set(model_spec) - set(DEFAULT_SPEC)
    if unknown:
        raise SpecError(f"unknown model_spec keys {sorted(unknown)}; known: {sorted(DEFAULT_SPEC)}")
    spec = {**DEFAULT_SPEC, **model_spec}
    if spec["arch"] == "auto":
        spec["arch"] = "small_cnn3d" if kind == "3d" else "small_cnn"
    if spec["arch"] not in ARCHS:
        raise SpecError(f"unknown arch {spec['arch']!r}; expected one of {ARCHS}")
    if (spec["arch"] == "small_cnn3d") != (kind == "3d"):
        raise SpecError(f"arch {spec['arch']!r} does not fit {kind} images")
    for key, value in ARCH_DEFAULTS[spec["arch"]].items():
        spec[key] = value if spec[key] is None else spec[key]
    for key, choices in _CHOICES.items():
        if spec[key] not in choices:
            raise SpecError(f"model_spec[{key!r}] = {spec[key]!r}; expected one of {choices}")
    aug.parse(spec["augment"], kind)
    _check_numbers(spec)
    return spec


#: Numeric model-spec keys: (type, smallest allowed value, is the bound exclusive).
_NUMBERS = {"epochs": (int, 1, False), "width": (int, 1, False), "batch_size": (int, 1, False),
            "min_steps": (int, 0, False), "crop_pad": (int, 0, False), "lr": (float, 0.0, True),
            "weight_decay": (float, 0.0, False)}


def _check_numbers(spec: dict[str, Any]) -> None:
    """Raise SpecError unless every numeric key is a finite number of its type within its bound."""
    import math

    for key, (kind, low, exclusive) in _NUMBERS.items():
        value = spec[key]
        ok_type = not isinstance(value, bool) and (isinstance(value, int) if kind is int
                                                    else isinstance(value, (int, float)))
        if not ok_type or not math.isfinite(value) or value < low or (exclusive and value == low):
            bound = f"> {low}" if exclusive else f">= {low}"
            raise SpecError(f"model_spec[{key!r}] = {value!r}; expected a finite {kind.__name__} {bound}")


def fit_reference(train: SplitArrays, val: SplitArrays, n_classes: int, model_spec: dict[str, Any],
                  seed: int, num_threads: int = 2, progress: bool = True) -> tuple["nn.Module", list[dict]]:
    """Train one reference model; return it (eval mode) and its per-epoch history.

    Args:
        train, val: images (n, H, W) | (n, H, W, 3) | (n, D, H, W) uint8 and labels (n,) int64.
        n_classes: C, the number of logits.
        model_spec: partial spec, see :data:`DEFAULT_SPEC`.
        seed: run seed; the init and data-order seeds are keyed from it.
        num_threads: torch intra-op threads while training (restored afterwards).
        progress: show a tqdm bar over epochs.

    Returns:
        (model, history); history has one dict per epoch: train_loss, val_acc, val_loss, val_bal_acc,
        val_auc, lr, seconds. The number of epochs is :func:`medstrata.models.recipe.epochs_for` of
        the spec's ``epochs`` and ``min_steps``.
    """
    import torch

    spec = resolve_spec(model_spec, train.kind)
    _check_labels(train, val, n_classes)
    previous = torch.get_num_threads()
    torch.set_num_threads(torch_threads(num_threads))
    try:
        model = init_net(spec["arch"], train.in_channels, n_classes, spec["width"],
                         keyed_seed("medstrata.models", seed, "init"))
        gen = torch.Generator().manual_seed(keyed_seed("medstrata.models", seed, "data"))
        weights = recipe.class_weights(train.labels, n_classes, spec["class_weight"])
        history = _fit(model, train, val, spec, gen, progress, weights)
    finally:
        torch.set_num_threads(previous)
    return model.eval(), history


def train_reference(train: SplitArrays, val: SplitArrays, n_classes: int, model_spec: dict[str, Any],
                    seed: int, num_threads: int = 2, progress: bool = True) -> "nn.Module":
    """:func:`fit_reference` without the history: the trained model, in eval mode."""
    return fit_reference(train, val, n_classes, model_spec, seed, num_threads, progress)[0]


def _check_labels(train: SplitArrays, val: SplitArrays, n_classes: int) -> None:
    for name, split in (("train", train), ("val", val)):
        if split.n and (split.labels.min() < 0 or split.labels.max() >= n_classes):
            raise ValueError(f"{name} labels must lie in [0, {n_classes})")
    if train.kind != val.kind or train.images.shape[1:] != val.images.shape[1:]:
        raise ValueError(f"train {train.images.shape} and val {val.images.shape} images differ in shape")


def _fit(model: "nn.Module", train: SplitArrays, val: SplitArrays, spec: dict[str, Any],
         gen: "torch.Generator", progress: bool, weights: np.ndarray | None = None) -> list[dict]:
    import torch
    from tqdm.auto import tqdm

    x, y = images_to_tensor(train.images, train.kind), torch.from_numpy(train.labels.astype(np.int64))
    bs = min(spec["batch_size"], train.n)
    steps = recipe.steps_per_epoch(train.n, bs)  # drop the ragged last batch (a batch of 1 breaks BatchNorm)
    epochs = recipe.epochs_for(spec["epochs"], spec["min_steps"], train.n, bs)
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"], weight_decay=spec["weight_decay"])
    sched = _scheduler(opt, spec, steps * epochs)
    ops = aug.parse(spec["augment"], train.kind)
    w = None if weights is None else torch.from_numpy(weights)
    best, history = (-np.inf, None), []
    bar = tqdm(range(epochs), desc=f"train {spec['arch']}", disable=not progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(train.n, generator=gen)[: steps * bs].view(steps, bs)
        loss = _epoch(model, x, y, perm, opt, sched, ops, spec, gen, w)
        m = recipe.val_metrics(predict(model, val)[0], val.labels)
        history.append({"epoch": epoch, "train_loss": loss, "val_acc": m["acc"], "val_loss": m["loss"],
                        "val_bal_acc": m["bal_acc"], "val_auc": m["auc"],
                        "lr": sched.get_last_lr()[0], "seconds": time.perf_counter() - t0})
        bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{m['acc']:.3f}")
        if spec["select"] != "last" and recipe.selection_score(history[-1], spec["select"]) >= best[0]:
            # ties go to the later, lower-lr epoch
            best = (recipe.selection_score(history[-1], spec["select"]),
                    {k: v.detach().clone() for k, v in model.state_dict().items()})
    if best[1] is not None:
        model.load_state_dict(best[1])
    return history


def _scheduler(opt: "torch.optim.Optimizer", spec: dict[str, Any], total: int) -> Any:
    """One-cycle (or constant) schedule over ``total`` optimiser steps."""
    import torch

    if spec["schedule"] == "constant" or total < 4:  # one-cycle needs a few steps per phase
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec["lr"], total_steps=total,
                                               pct_start=max(0.25, 2 / total))


def _epoch(model: "nn.Module", x: "torch.Tensor", y: "torch.Tensor", perm: "torch.Tensor", opt: Any,
           sched: Any, ops: tuple[str, ...], spec: dict[str, Any], gen: "torch.Generator",
           weight: "torch.Tensor | None" = None) -> float:
    """One pass over ``perm`` (steps, batch) indices; returns the mean (class-weighted) training loss."""
    import torch
    import torch.nn.functional as F

    model.train()
    total = 0.0
    for idx in perm:
        xb = normalise(aug.apply(x[idx], ops, spec["crop_pad"], gen))
        xb = xb.contiguous(memory_format=torch.channels_last) if xb.ndim == 4 else xb
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec["precision"] == "bf16"):
            loss = F.cross_entropy(model(xb).float(), y[idx], weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total += float(loss.detach())
    return total / len(perm)


# Largest forward-pass batch, in input values: 512 RGB 28-px images. A batch of 512 28-px volumes
# (21,952 voxels each) held over 1 GiB of activations at once; eval-mode outputs do not depend on
# the batch (checked bit for bit on the 3-D and 2-D models, 1 and 2 threads: tests/unit/test_predict_batch.py).
EVAL_VALUES = 512 * 3 * 28 * 28


def eval_batch(image_shape: tuple[int, ...], cap: int = 512) -> int:
    """Forward-pass batch for images of ``image_shape`` (one sample, e.g. (28, 28, 3) or (28, 28, 28)):
    ``cap`` for 28-px 2-D images, fewer for larger ones so a batch holds at most ``EVAL_VALUES`` values."""
    return int(max(1, min(cap, EVAL_VALUES // max(1, int(np.prod(image_shape))))))


def predict(model: "nn.Module", arrays: SplitArrays, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Forward pass in float32, eval mode, ``batch_size`` (default :func:`eval_batch`) images at a time.

    Returns:
        logits (n, C) float32 and penultimate features (n, d) float32, rows in ``arrays`` order.
    """
    import torch

    model.eval()
    batch_size = batch_size or eval_batch(arrays.images.shape[1:])
    x = images_to_tensor(arrays.images, arrays.kind)
    logits, feats = [], []
    with torch.inference_mode():
        for start in range(0, arrays.n, batch_size):
            xb = normalise(x[start: start + batch_size])
            xb = xb.contiguous(memory_format=torch.channels_last) if xb.ndim == 4 else xb
            f = model.penultimate(xb)
            feats.append(f.float())
            logits.append(model.head(f).float())
    if not feats:
        return np.zeros((0, model.head.out_features), np.float32), np.zeros((0, model.feat_dim), np.float32)
    return torch.cat(logits).numpy(), torch.cat(feats).numpy()


def evaluate(model: "nn.Module", arrays: SplitArrays) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``arrays``; (nan, nan) when empty."""
    if arrays.n == 0:
        return float("nan"), float("nan")
    m = recipe.val_metrics(predict(model, arrays)[0], arrays.labels)
    return m["acc"], m["loss"]
