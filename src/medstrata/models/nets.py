"""Reference network architectures. Every net maps a float tensor to logits and exposes
``penultimate(x)``, the activations that feed the final linear layer.

* ``small_cnn``: five 3x3 conv-BN-ReLU layers in three stages, one at 28 px (``width`` channels),
  two at 14 px (``2 * width``), two at 7 px (``4 * width``), with 2x2 max-pooling between stages,
  then global average pooling and a linear head. Penultimate width ``4 * width`` (128 by default).
  The fast default for grey and RGB images. (Putting the second conv at 7 px rather than at 28 px
  doubles the parameters at the same speed on CPU; measured in docs/models.md.)
* ``resnet18``: torchvision's ResNet-18 with the 28-px ("CIFAR-style") stem used by the MedMNIST v2
  baselines: ``conv1`` is a 3x3 stride-1 convolution taking ``in_channels``, and the max-pool is
  removed. Penultimate width 512. ``width`` is ignored.
* ``small_cnn3d``: the 3-D analogue of ``small_cnn`` without the second 7-px conv (four conv
  layers, 28^3 -> 14^3 -> 7^3) for volumes. Penultimate width ``4 * width``.

References:
    He, Zhang, Ren, Sun. "Deep Residual Learning for Image Recognition." CVPR 2016.
    Yang et al. "MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image
    classification." Scientific Data 10, 41 (2023).

Torch is imported lazily (inside functions) so that ``import medstrata.models`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from torch import nn

ARCHS = ("small_cnn", "resnet18", "small_cnn3d")


def _conv_block(dims: int, c_in: int, c_out: int) -> list[Any]:
    from torch import nn

    conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d)
    return [conv(c_in, c_out, 3, padding=1, bias=False), bn(c_out), nn.ReLU(inplace=True)]


def _small_cnn_body(dims: int, in_channels: int, width: int) -> "nn.Module":
    """Conv stages; output (n, 4 * width) after global average pooling."""
    from torch import nn

    pool = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool3d(2)
    gap = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool3d(1)
    w = width
    layers = [*_conv_block(dims, in_channels, w), pool]
    layers += [*_conv_block(dims, w, 2 * w), *_conv_block(dims, 2 * w, 2 * w), pool]
    layers += [*_conv_block(dims, 2 * w, 4 * w)]
    if dims == 2:  # the 2-D net affords a second conv at the lowest resolution; the 3-D net does not
        layers += _conv_block(dims, 4 * w, 4 * w)
    layers += [gap, nn.Flatten()]
    return nn.Sequential(*layers)


def _resnet18_body(in_channels: int) -> "nn.Module":
    """ResNet-18 up to and including the global average pool; output (n, 512)."""
    from torch import nn
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Flatten()  # body ends at avgpool + flatten; the classifier head is added outside
    return net


def _make_reference_net_class() -> type:
    from torch import nn

    class ReferenceNet(nn.Module):
        """``body`` (input -> (n, d) features) followed by a linear ``head`` ((n, d) -> (n, C))."""

        def __init__(self, body: nn.Module, feat_dim: int, n_classes: int) -> None:
            super().__init__()
            self.body = body
            self.head = nn.Linear(feat_dim, n_classes)
            self.feat_dim = feat_dim

        def penultimate(self, x: "torch.Tensor") -> "torch.Tensor":
            """(n, C_in, H, W) or (n, 1, D, H, W) float -> (n, feat_dim) float."""
            return self.body(x)

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            """(n, C_in, ...) float -> (n, n_classes) logits."""
            return self.head(self.body(x))

    return ReferenceNet


def build_net(arch: str, in_channels: int, n_classes: int, width: int) -> "nn.Module":
    """Build an untrained reference net. Initialisation draws from torch's global RNG, so callers
    must build under ``torch.random.fork_rng()`` with a keyed seed (as :func:`init_net` does).

    Args:
        arch: one of :data:`ARCHS`.
        in_channels: 1 (grey, volume) or 3 (RGB).
        n_classes: number of output logits.
        width: base channel count of the small nets (ignored by ``resnet18``).
    """
    if arch == "small_cnn":
        body, dim = _small_cnn_body(2, in_channels, width), 4 * width
    elif arch == "small_cnn3d":
        body, dim = _small_cnn_body(3, in_channels, width), 4 * width
    elif arch == "resnet18":
        body, dim = _resnet18_body(in_channels), 512
    else:
        raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")
    return _make_reference_net_class()(body, dim, n_classes)


def init_net(arch: str, in_channels: int, n_classes: int, width: int, seed: int) -> "nn.Module":
    """:func:`build_net` with a deterministic initialisation that leaves the global RNG untouched.

    torch's layer initialisers only accept the global RNG, so we fork it, seed the fork with
    ``seed`` (a keyed seed from :func:`medstrata.hashing.keyed_seed`) and restore it on exit.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        # Unavoidable global seed (torch's initialisers take no generator): ``seed`` is derived from the
        # job key by the caller (keyed_seed("medstrata.models", run seed, "init")), and fork_rng
        # restores the caller's global RNG state on exit.
        torch.manual_seed(seed)
        return build_net(arch, in_channels, n_classes, width)


def images_to_tensor(images: np.ndarray, kind: str) -> "torch.Tensor":
    """uint8 images -> uint8 tensor in the nets' layout (normalise later, batch by batch).

    Args:
        images: (n, H, W) grey, (n, H, W, 3) RGB or (n, D, H, W) volume, uint8.
        kind: ``"2d_grey"``, ``"2d_rgb"`` or ``"3d"``.

    Returns:
        (n, 1, H, W), (n, 3, H, W) or (n, 1, D, H, W) uint8 tensor.
    """
    import torch

    t = torch.from_numpy(np.ascontiguousarray(images))
    if kind == "2d_rgb":
        return t.permute(0, 3, 1, 2).contiguous()
    return t.unsqueeze(1)


def normalise(batch: "torch.Tensor") -> "torch.Tensor":
    """uint8 batch -> float32 in [-1, 1] (MedMNIST's ``Normalize(mean=.5, std=.5)``)."""
    return batch.float().div_(127.5).sub_(1.0)
