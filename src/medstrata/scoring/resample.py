"""Within-cell resampling of the test set: keyed Poisson bootstrap weights and a vectorised AP.

The ranking's hierarchical bootstrap (:mod:`medstrata.scoring.paired`) resamples the test samples
of each (task, seed) cell. Re-running every method on every resample would be wasteful; instead the
scorer stores, for each result row, ``B`` replicates of the primary metric computed on ``B``
resampled test sets, and the ranking draws from them.

* :func:`cell_bootstrap_weights` gives the resampled test sets as Poisson(1) frequencies
  ``W (B, n)``: sample i appears ``W[b, i]`` times in replicate b. The draws come from a generator
  keyed by the cell (task id and model id), over the samples **sorted by sample id**, then put back
  in the caller's row order: every method of one cell sees the *same* resamples (so differences
  between methods are paired), and no weight depends on row order.
* :func:`weighted_average_precision` is AP (ties form one threshold, as
  :func:`~medstrata.scoring.binary.average_precision`) of a candidate's scores on each resample, for
  all B at once: with the rows sorted by score, ``tp_t = sum W * member`` and ``n_t = sum W`` at
  each tie block's end, ``AP_b = sum_t (tp_t - tp_{t-1}) / tp_T * tp_t / n_t``. NaN where a resample
  holds no member.

Citation::

    Hanley and MacGibbon, "Creating non-parametric bootstrap samples using Poisson frequencies",
    Computer Methods and Programs in Biomedicine 83, 2006 (Poisson bootstrap).
    Efron and Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall 1993.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from medstrata.hashing import keyed_rng
from medstrata.scoring.binary import as_member, as_scores

#: Replicates stored per result row (the within-cell level of the hierarchical bootstrap).
N_CELL_BOOT = 200


def cell_bootstrap_weights(sample_ids: ArrayLike, key: str, n_boot: int = N_CELL_BOOT) -> np.ndarray:
    """(n_boot, n) int32 Poisson(1) frequencies, a pure function of ``key`` and the set of ids.

    Args:
        sample_ids: (n,) unique sample ids of the test split (any row order).
        key: the cell's stable key, e.g. ``"<task_id>/<model_id>"``.
        n_boot: number of resamples B.
    """
    ids = np.asarray(sample_ids).astype(str)
    if ids.ndim != 1 or len(np.unique(ids)) != len(ids):
        raise ValueError("sample_ids must be a 1-D vector of unique ids")
    order = np.argsort(ids, kind="stable")
    draws = keyed_rng("medstrata.cell_bootstrap", key).poisson(1.0, size=(n_boot, len(ids)))
    out = np.empty_like(draws, dtype=np.int32)
    out[:, order] = draws
    return out


def weighted_average_precision(scores: ArrayLike, member: ArrayLike, weights: np.ndarray) -> np.ndarray:
    """(B,) AP of ``scores (n,)`` against ``member (n,)`` on each row of frequencies ``weights (B, n)``.

    Row b equals :func:`~medstrata.scoring.binary.average_precision` of the data set in which
    sample i is repeated ``weights[b, i]`` times; NaN where that data set has no member.
    """
    s = as_scores(scores)
    m = as_member(member, len(s))
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(s) or (w < 0).any():
        raise ValueError(f"weights must be (B, {len(s)}) and >= 0, got {w.shape}")
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    ends = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s) - 1]
    w_sorted = w[:, order]
    n_t = np.cumsum(w_sorted, axis=1)[:, ends]
    tp_t = np.cumsum(w_sorted * m[order], axis=1)[:, ends]
    total = tp_t[:, -1:]
    gain = np.diff(tp_t, axis=1, prepend=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_t > 0, tp_t / np.where(n_t > 0, n_t, 1.0), 0.0)
        ap = (gain * precision).sum(axis=1) / total[:, 0]
    return np.where(total[:, 0] > 0, ap, np.nan)
