"""Metrics of one score vector against one binary membership vector.

Each function takes ``scores (n,)`` float and ``member (n,)`` bool (or 0/1) and returns a Python
float. A metric that is undefined for the input (no members, no non-members, n = 0) returns NaN;
the callers in :mod:`medstrata.scoring.recovery` record the reason next to it.

Definitions (one each; worked examples in ``docs/metrics.md``):

* **P@k** (expected precision at k): the fraction of members among the first ``K = min(k, n)``
  samples, *averaged over every order of tied scores*. Closed form: with the distinct score values
  sorted from highest to lowest, a tie block of ``b`` samples, ``m_b`` of them members, that has
  ``a`` samples above it contributes ``clip(K - a, 0, b) * m_b / b`` members. The value depends only
  on the multiset of (score, member) pairs, never on row order. Without ties it is the usual P@k.
* **AP**: step-wise area under the precision-recall curve, with tied scores forming a single
  threshold: ``AP = sum_t (R_t - R_{t-1}) * P_t`` over the distinct score values t, highest first.
* **AUROC**: the Mann-Whitney probability that a random member outranks a random non-member, ties
  counting 1/2: ``(sum of mid-ranks of members - P(P+1)/2) / (P * N)``.
* **Hard precision / recall / F1** of a predicted boolean set against the members. An empty
  predicted set has precision 0 and F1 0 (scikit-learn's ``zero_division=0``).

Citation::

    Eyuboglu et al., "Domino: Discovering Systematic Errors with Cross-Modal Embeddings", ICLR 2022
    (precision-at-k of slice discovery; dcbench).
    Manning, Raghavan, Schuetze, "Introduction to Information Retrieval", CUP 2008, ch. 8
    (precision at k, average precision).
    McSherry and Najork, "Computing Information Retrieval Performance Measures Efficiently in the
    Presence of Tied Scores", ECIR 2008 (expected value of a measure over the orders of ties).
    Mann and Whitney, Ann. Math. Statist. 18(1), 1947; Hanley and McNeil, Radiology 143, 1982
    (AUROC).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike


def as_member(member: ArrayLike, n: int | None = None) -> np.ndarray:
    """(n,) bool from a bool or 0/1 vector; raises ValueError on other values or a wrong length."""
    m = np.asarray(member)
    if m.ndim != 1 or (n is not None and m.shape[0] != n):
        raise ValueError(f"membership must be a 1-D vector of length {n}, got shape {m.shape}")
    if m.dtype != bool:
        if m.size and not np.isin(m, (0, 1)).all():
            raise ValueError("membership must be bool or 0/1")
        m = m.astype(bool)
    return m


def as_scores(scores: ArrayLike) -> np.ndarray:
    """(n,) float64 from a 1-D array of finite scores; raises ValueError otherwise."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    return s


def rank_order(scores: ArrayLike) -> np.ndarray:
    """(n,) int positions sorted by ``(-score, position)``. Only for display and for AP's sort: no
    metric depends on the order it gives to tied scores."""
    return np.argsort(-as_scores(scores), kind="stable")


def precision_at_k(scores: ArrayLike, member: ArrayLike, k: int) -> float:
    """Expected fraction of members among the top ``K = min(k, n)`` over the orders of ties.

    Args:
        scores: (n,) float.
        member: (n,) bool.
        k: cut-off, >= 1. With n < k the denominator is n. NaN when n = 0.

    Returns:
        ``sum_b clip(K - above_b, 0, size_b) * members_b / size_b / K`` over the tie blocks b.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    s = as_scores(scores)
    m = as_member(member, len(s))
    if len(s) == 0:
        return math.nan
    top = min(k, len(s))
    _, block = np.unique(-s, return_inverse=True)  # block 0 = highest score
    size = np.bincount(block)
    members = np.bincount(block, weights=m.astype(np.float64))
    above = np.cumsum(size) - size
    taken = np.clip(top - above, 0, size)
    return float(np.sum(taken * members / size) / top)


def average_precision(scores: ArrayLike, member: ArrayLike) -> float:
    """AP over distinct score thresholds (ties form one threshold). NaN when there are no members.

    Args:
        scores: (n,) float.
        member: (n,) bool.
    """
    s = as_scores(scores)
    m = as_member(member, len(s))
    n_pos = int(m.sum())
    if n_pos == 0:
        return math.nan
    order = rank_order(s)
    s_sorted, m_sorted = s[order], m[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s) - 1]
    tp = np.cumsum(m_sorted)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, tp]) / n_pos
    return float(np.dot(recall_gain, precision))


def auroc(scores: ArrayLike, member: ArrayLike) -> float:
    """Mann-Whitney AUROC with mid-ranks for ties. NaN without members or without non-members.

    Args:
        scores: (n,) float.
        member: (n,) bool.
    """
    s = as_scores(scores)
    m = as_member(member, len(s))
    n_pos = int(m.sum())
    n_neg = len(s) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    from scipy.stats import rankdata  # lazy: scipy.stats costs ~0.5 s to import

    ranks = rankdata(s, method="average")
    u = ranks[m].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def hard_prf(predicted: ArrayLike, member: ArrayLike) -> tuple[float, float, float]:
    """Precision, recall and F1 of a predicted set against the members.

    Args:
        predicted: (n,) bool, the hard predicted slice.
        member: (n,) bool, the true stratum.

    Returns:
        ``(precision, recall, f1)``; all NaN when there are no members; precision = F1 = 0 when the
        predicted set is empty.
    """
    p = as_member(predicted)
    m = as_member(member, len(p))
    n_pos = int(m.sum())
    if n_pos == 0:
        return math.nan, math.nan, math.nan
    tp = int((p & m).sum())
    n_pred = int(p.sum())
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_pos
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)
