"""The arrays a reference model is trained and evaluated on (numpy only, no torch).

The benchmark runner hands the models package plain :class:`SplitArrays`; the models package knows
nothing about strata, manifests or task specs. :func:`toy_splits` makes tiny synthetic splits for
tests and examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from medstrata.hashing import sha256_array, sha256_text


@dataclass(frozen=True, eq=False)
class SplitArrays:
    """One split of one task.

    Attributes:
        sample_ids: (n,) str, unique.
        images: uint8, (n, H, W) grey, (n, H, W, 3) RGB or (n, D, H, W) volume. A 4-D array whose
            last axis has length 3 is read as RGB, any other 4-D array as a volume.
        labels: (n,) int64 class indices in [0, n_classes).
    """

    sample_ids: np.ndarray
    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.sample_ids)
        if self.images.dtype != np.uint8 or self.images.ndim not in (3, 4):
            raise ValueError(f"images must be uint8 with 3 or 4 axes, got {self.images.dtype} {self.images.shape}")
        if len(self.images) != n or len(self.labels) != n or self.labels.ndim != 1:
            raise ValueError(
                f"sample_ids ({n}), images ({len(self.images)}) and labels {self.labels.shape} must have n rows"
            )
        if not np.issubdtype(self.labels.dtype, np.integer):
            raise ValueError(f"labels must be integers, got {self.labels.dtype}")
        if len(set(self.sample_ids.tolist())) != n:
            raise ValueError("sample_ids must be unique")

    @property
    def n(self) -> int:
        return len(self.sample_ids)

    @property
    def kind(self) -> str:
        """``"2d_grey"``, ``"2d_rgb"`` or ``"3d"``."""
        if self.images.ndim == 3:
            return "2d_grey"
        return "2d_rgb" if self.images.shape[-1] == 3 else "3d"

    @property
    def in_channels(self) -> int:
        return 3 if self.kind == "2d_rgb" else 1

    @cached_property
    def _fingerprint(self) -> str:
        ids = np.asarray(self.sample_ids).astype(str)
        labels = np.asarray(self.labels, dtype=np.int64)
        return sha256_text("|".join((sha256_array(ids), sha256_array(self.images), sha256_array(labels))))

    def fingerprint(self) -> str:
        """SHA-256 over ids, images and labels: identifies the exact content of the split.

        Computed once and memoised: do not mutate the arrays after construction.
        """
        return self._fingerprint


def toy_splits(n: int = 200, kind: str = "2d_grey", n_classes: int = 3, seed: int = 0,
               size: int = 28) -> dict[str, SplitArrays]:
    """Tiny synthetic train/val/test splits: dark noise with one bright square (cube for volumes) at
    a random place, whose side ``size // 7 * (c + 1)`` gives the class c. Flip and crop invariant.

    Args:
        n: images per split.
        kind: ``"2d_grey"`` (n, size, size), ``"2d_rgb"`` (n, size, size, 3) or ``"3d"`` (n, size, size, size).
        n_classes: 2 to 4.
        seed: seed of the (local) numpy generator.

    Returns:
        {"train", "val", "test"} -> SplitArrays with ids like ``"toy-train-000007"``.
    """
    if not 2 <= n_classes <= 4:
        raise ValueError("toy_splits supports 2 to 4 classes")
    shape = {"2d_grey": (size, size), "2d_rgb": (size, size, 3), "3d": (size, size, size)}[kind]
    n_axes = 3 if kind == "3d" else 2
    out = {}
    for k, split in enumerate(("train", "val", "test")):
        rng = np.random.default_rng([seed, k])
        labels = rng.integers(0, n_classes, size=n).astype(np.int64)
        images = rng.integers(0, 60, size=(n, *shape)).astype(np.uint8)
        for i, y in enumerate(labels):
            side = size // 7 * (int(y) + 1)
            corner = rng.integers(0, size - side + 1, size=n_axes)
            images[(i, *(slice(c, c + side) for c in corner))] = rng.integers(180, 256)
        ids = np.array([f"toy-{split}-{i:06d}" for i in range(n)])
        out[split] = SplitArrays(ids, images, labels)
    return out
