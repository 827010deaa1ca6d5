"""Small helpers shared by the built-in methods (private: plug-ins should not rely on them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from medstrata.problem import Problem


def error_class_order(problem: Problem) -> np.ndarray:
    """Class ids ``0..C-1`` ordered by number of errors (descending), ties by class id.

    This is the order in which per-class methods hand out their columns.

    Returns:
        (C,) int64.
    """
    classes = np.arange(problem.n_classes)
    wrong = ~problem.correct
    counts = np.array([np.sum(wrong & (problem.labels == c)) for c in classes])
    return classes[np.lexsort((classes, -counts))]


def within_rank(values: np.ndarray) -> np.ndarray:
    """Percentile rank in (0, 1] of each value within ``values`` (ties share the average rank).

    Args:
        values: (m,) float.

    Returns:
        (m,) float64; the largest value gets 1.
    """
    if len(values) == 0:
        return np.zeros(0)
    return rankdata(values, method="average") / len(values)


@dataclass(frozen=True)
class Projection:
    """A fitted affine map ``x -> (x - mean) @ components.T / scale`` (PCA, optionally whitened).

    Attributes:
        mean: (d,) float64.
        components: (k, d) float64 orthonormal rows.
        scale: (k,) float64 positive divisors.
    """

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(m, d) -> (m, k) float64."""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T / self.scale


def fit_pca(x: np.ndarray, k: int, whiten: str = "none") -> Projection:
    """PCA of ``x`` onto at most ``k`` dims, deterministic (SVD with a fixed sign convention).

    Args:
        x: (n, d) float.
        k: maximum number of components; the result has ``min(k, n, d)`` (at least 1).
        whiten: ``"none"``, ``"global"`` (divide every dim by one common scale, the RMS of the
            projected data) or ``"per_dim"`` (divide each dim by its own std).
    """
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    _, sv, vt = np.linalg.svd(x - mean, full_matrices=False)
    k = max(1, min(k, vt.shape[0]))
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.argmax(np.abs(comps), axis=1)])
    comps = comps * np.where(signs == 0, 1.0, signs)[:, None]
    std = sv[:k] / np.sqrt(max(len(x) - 1, 1))
    if whiten == "per_dim":
        scale = np.where(std > 1e-12, std, 1.0)
    elif whiten == "global":
        rms = float(np.sqrt(np.mean(std**2)))
        scale = np.full(k, rms if rms > 1e-12 else 1.0)
    else:
        scale = np.ones(k)
    return Projection(mean, comps, scale)


def top_clusters(errors: np.ndarray, sizes: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` clusters with the highest error rate (ties: larger, then lower index).

    Args:
        errors: (m,) error rate of each cluster.
        sizes: (m,) number of fitted samples in each cluster.
    """
    idx = np.arange(len(errors))
    return np.lexsort((idx, -np.asarray(sizes), -np.asarray(errors)))[:k]
