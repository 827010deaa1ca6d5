"""Registry of embedding encoders. Each result records which encoder produced its embeddings.

An encoder is fit once on the **train** split (given the trained reference model's outputs) and then
maps any split to (n, d) float32 embeddings. Built-ins:

* ``penultimate``: the reference model's penultimate activations (input of its linear head).
* ``pixel_pca``: PCA of the flattened pixels (scaled to [0, 1]), fit on the train split only, with
  ``min(64, n_train, n_pixels)`` components and a keyed ``random_state``.

Add one with ``@register_encoder("name")`` on a class with ``fit(train, train_out, key) -> self`` and
``transform(arrays, out) -> (n, d)``. Other packages add one through an entry point in the group
``medstrata.encoders`` naming the class (the shared rules of :mod:`medstrata.registry`).

References:
    Eyuboglu et al. "Domino: Discovering Systematic Errors with Cross-Modal Embeddings." ICLR 2022
    (the embedding matters as much as the slicer).
    Pearson. "On lines and planes of closest fit to systems of points in space." 1901 (PCA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from medstrata.hashing import keyed_seed
from medstrata.models.data import SplitArrays
from medstrata.registry import Registry

ENTRY_POINT_GROUP = "medstrata.encoders"


def _why_invalid(cls: Any) -> str | None:
    if not isinstance(cls, type) or not callable(getattr(cls, "fit", None)) or not callable(getattr(cls, "transform", None)):
        return f"{cls!r} is not a class with fit(train, train_out, key) and transform(arrays, out)"
    return None


def _set_name(name: str, cls: Any) -> None:
    cls.name = name


#: The encoders' registry (see :mod:`medstrata.registry` for the shared rules and errors).
REGISTRY = Registry("encoder", ENTRY_POINT_GROUP, _why_invalid, on_add=_set_name)


@dataclass(frozen=True)
class ModelOutputs:
    """The reference model's forward pass on one split, rows in that split's order.

    Attributes:
        logits: (n, C) float32.
        penultimate: (n, d) float32 activations that feed the linear head.
    """

    logits: np.ndarray
    penultimate: np.ndarray


class Encoder(Protocol):
    def fit(self, train: SplitArrays, train_out: ModelOutputs, key: str) -> "Encoder": ...

    def transform(self, arrays: SplitArrays, out: ModelOutputs) -> np.ndarray: ...


def register_encoder(name: str) -> Callable[[type], type]:
    """Class decorator: register an encoder under a stable public ``name``."""
    return REGISTRY.register(name)


def available_encoders() -> list[str]:
    """Sorted names of all registered encoders (built-ins and plug-ins)."""
    return REGISTRY.names()


def get_encoder(name: str) -> Encoder:
    """A fresh, unfitted instance of the encoder registered as ``name``."""
    return REGISTRY.get(name)()


@register_encoder("penultimate")
class PenultimateEncoder:
    """The reference model's penultimate activations, (n, d) with d = the net's feature width."""

    def fit(self, train: SplitArrays, train_out: ModelOutputs, key: str) -> "PenultimateEncoder":
        return self

    def transform(self, arrays: SplitArrays, out: ModelOutputs) -> np.ndarray:
        return np.asarray(out.penultimate, dtype=np.float32)


@register_encoder("pixel_pca")
class PixelPCAEncoder:
    """PCA of flattened pixels in [0, 1], fit on train only; (n, k), k = min(64, n_train, n_pixels)."""

    max_components = 64

    def fit(self, train: SplitArrays, train_out: ModelOutputs, key: str) -> "PixelPCAEncoder":
        from sklearn.decomposition import PCA

        x = _flat(train)
        k = min(self.max_components, x.shape[0], x.shape[1])
        seed = keyed_seed(key, "pixel_pca") % (2**32)
        self.pca_ = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit(x)
        return self

    def transform(self, arrays: SplitArrays, out: ModelOutputs) -> np.ndarray:
        if arrays.n == 0:
            return np.zeros((0, self.pca_.n_components_), np.float32)
        return self.pca_.transform(_flat(arrays)).astype(np.float32)


def _flat(arrays: SplitArrays) -> np.ndarray:
    """(n, ...) uint8 -> (n, n_pixels) float32 in [0, 1]."""
    return arrays.images.reshape(arrays.n, -1).astype(np.float32) / 255.0
