"""A linear head on frozen features and its deterministic full-batch trainer (numpy only).

* :class:`LinearHead`: standardisation (mean/std of the rows it was trained on) then
  ``logits = z @ W + b`` with ``W (d, C)``, ``b (C,)``.
* :func:`train_head`: full-batch Adam on the (per-sample weighted) cross-entropy plus
  ``l2 / 2 * ||W||^2`` (products in float32, the kept heads in float64), from ``W = 0, b = 0`` (no random initialisation, so there is nothing to
  seed). A ``weigher`` callback may change the sample weights at every step (GroupDRO's online
  group weights). Every ``eval_every`` steps the head is scored on val with :func:`selection_score`
  and the best checkpoint is kept (ties: the earliest): that is how the number of epochs is chosen.

**Selection score** (no test split is ever passed here): the worst accuracy over the val groups
with at least ``MIN_SELECT_GROUP`` members, where the groups are the *discovered* groups when the
strategy has them and the classes when it has none (SubpopBench's worst-class accuracy). When no
group reaches that size, all groups count.

Citation:
    Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
    Yang, Zhang, Katabi, Ghassemi, "Change is Hard: A Closer Look at Subpopulation Shift"
    (SubpopBench), ICML 2023 (model selection by worst-class accuracy without attribute labels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from medstrata.mitigation.data import Split

#: Val groups smaller than this are left out of the selection score (too noisy to select on).
MIN_SELECT_GROUP = 3
Weigher = Callable[[int, np.ndarray], np.ndarray]


@dataclass(frozen=True, eq=False)
class LinearHead:
    """``logits = ((x - mean) / std) @ W + b``; mean, std (d,), W (d, C), b (C,)."""

    mean: np.ndarray
    std: np.ndarray
    W: np.ndarray
    b: np.ndarray

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(n, C) logits of (n, d) features."""
        return ((np.asarray(features, dtype=np.float64) - self.mean) / self.std) @ self.W + self.b

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, C) softmax probabilities of (n, d) features."""
        return softmax(self.logits(features))

    def params(self) -> np.ndarray:
        """(d + 1, C) the weights and the bias stacked: to compare two heads."""
        return np.vstack([self.W, self.b])


def softmax(z: np.ndarray) -> np.ndarray:
    """(n, C) row-wise softmax of (n, C) logits."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), std (d,)) of (n, d) features; a std below 1e-6 is set to 1."""
    mean, std = features.mean(axis=0), features.std(axis=0)
    return mean, np.where(std < 1e-6, 1.0, std)


def selection_score(head: LinearHead, val: Split) -> float:
    """Worst accuracy over val's selection groups (:meth:`Split.eval_groups`; module docstring)."""
    groups = val.eval_groups()
    correct = head.logits(val.features).argmax(axis=1) == val.labels
    ids, counts = np.unique(groups, return_counts=True)
    keep = ids[counts >= MIN_SELECT_GROUP] if np.any(counts >= MIN_SELECT_GROUP) else ids
    return float(min(correct[groups == g].mean() for g in keep))


def per_sample_ce(head: LinearHead, z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probs (n, C), cross-entropy (n,)) of standardised features z (n, d); one exp per entry."""
    logits = z @ head.W + head.b
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    total = probs.sum(axis=1)
    probs /= total[:, None]
    return probs, np.log(total) - logits[np.arange(len(labels)), labels]


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings: ``l2`` (L2 strength on W), ``steps``, ``lr`` (Adam), ``eval_every``."""

    l2: float = 1e-3
    steps: int = 200
    lr: float = 0.05
    eval_every: int = 20


def train_head(train: Split, val: Split, weigher: Weigher, cfg: TrainConfig,
               init: LinearHead | None = None) -> tuple[LinearHead, int, float]:
    """Full-batch Adam on ``train``; returns (best head, its step, its val selection score).

    ``weigher(step, losses (n,)) -> weights (n,)`` gives the sample weights of each step (they are
    normalised to sum to 1); the loss is ``sum_i w_i CE_i + l2 / 2 ||W||^2``. ``init``: a head
    trained on the same rows (same standardisation) to start from instead of ``W = 0, b = 0``; it
    is then also a candidate of the selection, as step 0.
    """
    mean, std = standardiser(train.features)
    z = ((train.features - mean) / std).astype(np.float32)  # float32 products: half the time
    d, C = z.shape[1], train.n_classes
    W, b = np.zeros((d, C), dtype=np.float32), np.zeros(C, dtype=np.float32)
    best = (LinearHead(mean, std, W.astype(np.float64), b.astype(np.float64)), 0, -np.inf)
    if init is not None:
        if not (np.array_equal(init.mean, mean) and np.array_equal(init.std, std)):
            raise ValueError("init head was trained on other rows (its standardisation differs)")
        W, b = init.W.astype(np.float32), init.b.astype(np.float32)
        best = (init, 0, selection_score(init, val))
    onehot = np.eye(C, dtype=np.float32)[train.labels]
    moments = [np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b)]
    for step in range(1, cfg.steps + 1):
        probs, losses = per_sample_ce(LinearHead(mean, std, W, b), z, train.labels)
        w = np.asarray(weigher(step, losses.astype(np.float64)), dtype=np.float64)
        G = (probs - onehot) * (w / w.sum()).astype(np.float32)[:, None]
        W, b = _adam(step, (W, b), (z.T @ G + np.float32(cfg.l2) * W, G.sum(axis=0)), moments, cfg.lr)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            head = LinearHead(mean, std, W.astype(np.float64), b.astype(np.float64))
            score = selection_score(head, val)
            if score > best[2]:
                best = (head, step, score)
    return best


def _adam(t: int, params: tuple, grads: tuple, m: list, lr: float, b1: float = 0.9, b2: float = 0.999):
    """One Adam step on (W, b); ``m`` = [mW, mb, vW, vb] updated in place."""
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        m[i] = b1 * m[i] + (1 - b1) * g
        m[i + 2] = b2 * m[i + 2] + (1 - b2) * g * g
        mhat, vhat = m[i] / (1 - b1 ** t), m[i + 2] / (1 - b2 ** t)
        out.append((p - lr * mhat / (np.sqrt(vhat) + 1e-8)).astype(p.dtype))
    return tuple(out)
