"""Light, batched training augmentation with explicit randomness.

The ops are ``torchvision.transforms.v2.functional`` calls whose parameters we draw from the training
``torch.Generator``; the ``transforms.v2`` classes would draw them from torch's global RNG instead.

* ``crop``: pad by ``crop_pad`` pixels (zeros) and take a random crop of the original size
  (2-D only); each image gets its own offset.
* ``hflip`` / ``vflip`` / ``dflip``: flip each image with probability 1/2 along its last
  (width), second-to-last (height) or, for volumes, depth axis.

A spec string is ``"none"`` or ops joined by ``"+"``, e.g. ``"crop+hflip"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medstrata.errors import SpecError

if TYPE_CHECKING:
    import torch

OPS = ("crop", "hflip", "vflip", "dflip")


def parse(augment: str, kind: str) -> tuple[str, ...]:
    """Validate an augment string for a data kind; return its ops in application order."""
    if augment in ("none", ""):
        return ()
    ops = tuple(augment.split("+"))
    bad = [op for op in ops if op not in OPS]
    if bad or len(set(ops)) != len(ops):
        raise SpecError(f"augment {augment!r}: unknown or repeated ops {bad}; known: {OPS}")
    if kind == "3d" and "crop" in ops:
        raise SpecError("augment 'crop' is 2-D only; use flips for volumes")
    if kind != "3d" and "dflip" in ops:
        raise SpecError("augment 'dflip' is for volumes only")
    return tuple(op for op in OPS if op in ops)


def apply(batch: "torch.Tensor", ops: tuple[str, ...], crop_pad: int, gen: "torch.Generator") -> "torch.Tensor":
    """Augment a uint8 batch (n, C, H, W) or (n, C, D, H, W); returns a new tensor of the same shape."""
    for op in ops:
        if op == "crop":
            batch = random_crop(batch, crop_pad, gen)
        else:
            batch = random_flip(batch, {"hflip": -1, "vflip": -2, "dflip": -3}[op], gen)
    return batch


def random_crop(batch: "torch.Tensor", pad: int, gen: "torch.Generator") -> "torch.Tensor":
    """Per-image random crop of (n, C, H, W) after zero padding by ``pad`` on each side."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    if pad <= 0:
        return batch
    n, _, h, w = batch.shape
    padded = TF.pad(batch, [pad, pad, pad, pad])
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # (n, H, 1)
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # (n, 1, W)
    out = padded[torch.arange(n)[:, None, None], :, rows, cols]  # (n, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_flip(batch: "torch.Tensor", axis: int, gen: "torch.Generator") -> "torch.Tensor":
    """Flip each image of ``batch`` along ``axis`` (-1 width, -2 height, -3 depth) with p = 1/2."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    mask = torch.rand(len(batch), generator=gen) < 0.5
    out = batch.clone()
    if not mask.any():
        return out
    chosen = batch[mask]
    if axis == -1:
        flipped = TF.horizontal_flip(chosen)
    elif axis == -2:
        flipped = TF.vertical_flip(chosen)
    else:
        flipped = torch.flip(chosen, dims=(axis,))  # v2 has no depth flip
    out[mask] = flipped
    return out
