"""Synthetic Problems with one planted stratum, for testing discovery methods without training.

In the spirit of Domino's synthetic predictions: model outputs are sampled, not learned, so the
ground truth is exact. Samples get balanced labels over ``n_classes``; a fraction ``prevalence``
of class ``stratum_class`` forms the planted stratum. Its members

* sit in their own cluster of embedding space (offset along a dimension no class uses), and
* are predicted badly: their true-class probability is drawn from a Beta far below the others',
  with most of the remaining mass on one wrong class (``stratum_class + 1`` mod C).

``difficulty="easy"`` separates everything: the stratum is a tight, far cluster, every stratum
member is misclassified with true-class probability <= 0.3, and every other sample is correct with
true-class probability >= 0.65. ``difficulty="medium"`` overlaps both: the cluster is as wide as a
class and closer, stratum accuracy is well below the rest but not zero, and the rest makes some
errors too.

``id_probs`` plays a second, briefly trained model (JTT's identification model): drawn the same way
with its own key, so it makes the same kind of errors on the stratum but not the same draws.

All randomness comes from :func:`medstrata.hashing.keyed_rng` on ``(seed, split, purpose)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medstrata.hashing import keyed_rng
from medstrata.problem import Problem


@dataclass(frozen=True)
class Planted:
    """A Problem with its hidden strata (kept apart, as in the benchmark).

    Attributes:
        problem: the method input.
        strata: (n,) int64, 1 for members of the planted stratum, 0 otherwise.
    """

    problem: Problem
    strata: np.ndarray

    @property
    def truth(self) -> dict[str, int]:
        """sample id -> stratum id, for the oracle control and for scoring."""
        return dict(zip(self.problem.sample_ids.tolist(), self.strata.tolist()))


_SETTINGS = {
    # name: (stratum offset, stratum std, rest p_true Beta, stratum p_true Beta, p_true ranges)
    "easy": dict(offset=10.0, std=0.4, rest=(2.0, 2.0), bad=(2.0, 2.0), rest_lo=0.65, bad_hi=0.3),
    "medium": dict(offset=3.5, std=1.0, rest=(6.0, 1.5), bad=(1.5, 2.0), rest_lo=0.0, bad_hi=1.0),
}


def make_planted(n: int, *, difficulty: str = "easy", n_classes: int = 3, stratum_class: int = 1,
                 prevalence: float = 0.2, dim: int = 16, seed: int = 0,
                 split: str = "val") -> Planted:
    """One split with a planted stratum.

    Args:
        n: number of samples.
        difficulty: ``"easy"`` or ``"medium"`` (see the module docstring).
        n_classes: C >= 2; ``dim`` must exceed C.
        stratum_class: the class that hides the stratum.
        prevalence: fraction of ``stratum_class`` in the stratum (at least one member when n >= C).
        dim: embedding dimension d.
        seed, split: key of every random draw; sample ids are ``f"{split}-{seed}-{i:05d}"``.

    Returns:
        :class:`Planted` with a Problem of n rows (embeddings (n, d) float32, probs (n, C)).
    """
    if difficulty not in _SETTINGS or n_classes < 2 or dim <= n_classes or n < 1:
        raise ValueError("make_planted: bad difficulty, n_classes, dim or n")
    cfg = _SETTINGS[difficulty]
    rng = keyed_rng("planted", seed, split, difficulty)
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.int64)
    strata = _choose_stratum(labels, stratum_class, prevalence, rng)
    emb = _embeddings(labels, strata, n_classes, dim, cfg, rng)
    probs = _probs(labels, strata, n_classes, stratum_class, cfg, rng)
    ids = np.array([f"{split}-{seed}-{i:05d}" for i in range(n)])
    losses = -np.log(probs[np.arange(n), labels])
    id_rng = keyed_rng("planted", seed, split, difficulty, "identification_model")
    id_probs = _probs(labels, strata, n_classes, stratum_class, cfg, id_rng)
    return Planted(Problem(ids, labels, probs, losses, emb, "synthetic", id_probs), strata)


def _choose_stratum(labels: np.ndarray, c: int, prevalence: float,
                    rng: np.random.Generator) -> np.ndarray:
    members = np.flatnonzero(labels == c)
    k = min(len(members), max(1, int(round(prevalence * len(members))))) if len(members) else 0
    strata = np.zeros(len(labels), dtype=np.int64)
    strata[rng.choice(members, size=k, replace=False)] = 1
    return strata


def _embeddings(labels: np.ndarray, strata: np.ndarray, n_classes: int, dim: int, cfg: dict,
                rng: np.random.Generator) -> np.ndarray:
    centres = 6.0 * np.eye(n_classes, dim)
    emb = centres[labels] + rng.normal(size=(len(labels), dim))
    hit = strata == 1
    emb[hit] = (centres[labels[hit]] + cfg["offset"] * np.eye(dim)[n_classes]
                + cfg["std"] * rng.normal(size=(int(hit.sum()), dim)))
    return emb.astype(np.float32)


def _probs(labels: np.ndarray, strata: np.ndarray, n_classes: int, stratum_class: int,
           cfg: dict, rng: np.random.Generator) -> np.ndarray:
    n = len(labels)
    hit = strata == 1
    p_rest = cfg["rest_lo"] + (0.99 - cfg["rest_lo"]) * rng.beta(*cfg["rest"], size=n)
    p_bad = 0.01 + (cfg["bad_hi"] - 0.01) * rng.beta(*cfg["bad"], size=n)
    p_true = np.where(hit, p_bad, p_rest)
    share = rng.dirichlet(np.ones(n_classes - 1), size=n)  # split of 1 - p_true over wrong classes
    wrong_target = (stratum_class + 1) % n_classes
    probs = np.zeros((n, n_classes))
    for i in range(n):
        others = [k for k in range(n_classes) if k != labels[i]]
        s = share[i]
        if hit[i]:
            s = np.where(np.array(others) == wrong_target, 0.9, 0.1 / max(len(others) - 1, 1))
        probs[i, others] = (1.0 - p_true[i]) * s
        probs[i, labels[i]] = p_true[i]
    return probs / probs.sum(axis=1, keepdims=True)
