"""Spotlight: high-loss regions in embedding space, found one after another by gradient ascent.

Following d'Eon et al.: a spotlight is a centre c and a precision p in the (PCA-reduced, commonly
scaled) embedding space; sample i gets the RBF weight ``w_i = exp(-p ||x_i - c||² / 2)``. The
spotlight maximises the weighted mean loss ``Σ w_i l_i / Σ w_i`` subject to a minimum size
``Σ w_i >= min_weight * n`` (default 2% of the fitting samples). The size is enforced by a
squared-hinge penalty of weight ``penalty`` during the search, and exactly at its end (a spotlight
still too small is widened: p is lowered by bisection until it is not). c and log p are optimised
with Adam (``n_steps``, ``learning_rate``) on analytic gradients, in numpy. After each spotlight
the losses are down-weighted, ``l_i <- l_i (1 - w_i)``, and the next one is searched, giving
``n_slices`` spotlights.

Losses are divided by their mean first, so ``penalty`` is scale-free. Each search starts at the
mean of the ``ceil(min_weight * n)`` highest (current) losses, with a precision that puts about
twice that many samples inside; the method is deterministic and ``random_state`` is not used.
Scores are the RBF weights of the test samples, in (0, 1]; ``n_slices`` columns always exist.

Citation:
    d'Eon, d'Eon, Wright, Leyton-Brown. "The Spotlight: A General Method for Discovering
    Systematic Errors in Deep Learning Models." ACM FAccT 2022.
"""

from __future__ import annotations

import math

import numpy as np

from medstrata.methods._common import Projection, fit_pca
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("spotlight")
class SpotlightMethod(SliceDiscoveryMethod):
    """Successive RBF spotlights on high-loss regions."""

    version = "1"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0, min_weight: float = 0.02,
                 n_pca_components: int = 64, n_steps: int = 300, learning_rate: float = 0.05,
                 penalty: float = 10.0) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.min_weight = min_weight
        self.n_pca_components = n_pca_components
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.penalty = penalty

    def _fit(self, problem: Problem) -> None:
        self.projection_: Projection = fit_pca(problem.embeddings, self.n_pca_components, "global")
        x = self.projection_(problem.embeddings)
        loss = np.asarray(problem.losses, dtype=np.float64)
        loss = loss / loss.mean() if loss.mean() > 0 else np.ones_like(loss)
        size = max(1.0, self.min_weight * len(x))
        centres, log_precisions = [], []
        for _ in range(self.n_slices):
            c, a = self._search(x, loss, size)
            centres.append(c)
            log_precisions.append(a)
            loss = loss * (1.0 - _weights(x, c, a))
        self.centres_ = np.stack(centres)
        self.log_precisions_ = np.asarray(log_precisions)

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, n_slices) RBF weights."""
        x = self.projection_(problem.embeddings)
        return np.stack([_weights(x, c, a) for c, a in zip(self.centres_, self.log_precisions_)],
                        axis=1)

    def _search(self, x: np.ndarray, loss: np.ndarray, size: float) -> tuple[np.ndarray, float]:
        """One spotlight: returns (centre (d,), log precision)."""
        m = int(math.ceil(size))
        top = np.argsort(-loss, kind="stable")[:m]
        c = x[top].mean(axis=0)
        d2 = np.sort(((x - c) ** 2).sum(axis=1))
        a0 = float(np.log(1.0 / max(d2[min(2 * m, len(x)) - 1], 1e-6)))
        params = np.append(c, a0)
        adam = _Adam(len(params), self.learning_rate)
        for _ in range(self.n_steps):
            grad = self._gradient(x, loss, size, params[:-1], params[-1])
            params = adam.step(params, grad)
            params[-1] = np.clip(params[-1], a0 - 10.0, a0 + 10.0)
        return params[:-1], _widen(x, params[:-1], float(params[-1]), size)

    def _gradient(self, x: np.ndarray, loss: np.ndarray, size: float, c: np.ndarray,
                  a: float) -> np.ndarray:
        """Gradient of ``-mean_w(loss) + penalty * (max(0, size - W) / size)²`` in (c, a)."""
        p = math.exp(a)
        diff = x - c
        d2 = (diff**2).sum(axis=1)
        w = np.exp(-0.5 * p * d2)
        total = w.sum() + 1e-12
        mean = (w @ loss) / total
        short = max(0.0, size - total)
        g = -(loss - mean) / total - 2.0 * self.penalty * short / size**2  # dJ/dw_i
        gw = g * w
        grad_c = p * (gw @ diff)
        grad_a = -0.5 * p * (gw @ d2)
        return np.append(grad_c, grad_a)


def _widen(x: np.ndarray, c: np.ndarray, a: float, size: float) -> float:
    """The largest log precision <= ``a`` whose spotlight weighs at least ``size`` (bisection)."""
    if _weights(x, c, a).sum() >= size:
        return a
    lo, hi = a - 60.0, a  # at lo every weight is ~1, so the total is ~n >= size
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _weights(x, c, mid).sum() >= size else (lo, mid)
    return lo


def _weights(x: np.ndarray, c: np.ndarray, a: float) -> np.ndarray:
    """(n,) RBF weights ``exp(-exp(a) ||x - c||² / 2)``."""
    return np.exp(-0.5 * math.exp(a) * ((x - c) ** 2).sum(axis=1))


class _Adam:
    """Plain Adam (Kingma & Ba 2015) for a flat parameter vector."""

    def __init__(self, size: int, lr: float, b1: float = 0.9, b2: float = 0.999) -> None:
        self.lr, self.b1, self.b2 = lr, b1, b2
        self.m, self.v, self.t = np.zeros(size), np.zeros(size), 0

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * grad
        self.v = self.b2 * self.v + (1 - self.b2) * grad**2
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return params - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
