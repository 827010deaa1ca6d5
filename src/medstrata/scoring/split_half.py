"""Honest best-of-k matching: choose the match on one half of test, score it on the other half.

Picking the best of 2k candidates on the same labels it is scored on rewards methods for having
more slices (the maximum of more noisy values is higher). MedStrata therefore splits test in two
halves by a keyed hash of the sample id (:func:`split_halves`: sample i is in half A when
``keyed_uniform(key, sample_id, "split_half") < 0.5``; the split is the same for every method of a
cell and does not depend on row order) and, for each true stratum:

1. chooses the match (:func:`~medstrata.scoring.recovery.best_candidate`, highest AP, ties to the
   lowest column and plain before complement) on half A and computes every metric of that match
   (:func:`~medstrata.scoring.recovery.match_metrics`) on half B;
2. does the same with the halves swapped;
3. reports the mean of the two directions (``n_directions`` = 2). A direction whose choosing half
   or scoring half has no member, or only members, is left out (``n_directions`` = 1 or 0; with 0
   every metric is NaN and ``nan_reason`` says why).

``split_agreement`` is 1.0 when both halves choose the same candidate (slice and complement flag),
0.0 when they differ, NaN when fewer than two directions exist. ``match_slice`` /
``match_complement`` are the candidate chosen on *all* of test (the dcbench protocol), and
``p_at_10_dcbench`` / ``ap_insample`` are its P@10 and AP on all of test: kept for comparison with
dcbench/Domino numbers, not for ranking (they are optimistic). ``ami`` / ``ari`` involve no choice
and are computed on all of test.

With ``boot_weights (B, n)`` (:func:`~medstrata.scoring.resample.cell_bootstrap_weights`) each row
also carries ``ap_boot``: B replicates of the split-half ``ap``, each the mean over directions of
the matched candidate's AP on the resampled scoring half (the matches stay fixed).

Citation::

    Eyuboglu et al., "Domino", ICLR 2022, and dcbench (best of slice or complement).
    Kriegeskorte et al., "Circular analysis in systems neuroscience: the dangers of double
    dipping", Nature Neuroscience 12, 2009 (select and evaluate on independent data).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from medstrata.hashing import keyed_uniform
from medstrata.scoring.binary import average_precision, precision_at_k
from medstrata.scoring.recovery import (
    _METRICS, as_slice_scores, as_strata, best_candidate, candidate_scores, clustering_agreement,
    degenerate_reason, hard_assignment, match_metrics,
)
from medstrata.scoring.resample import weighted_average_precision


def split_halves(sample_ids: ArrayLike, key: str) -> np.ndarray:
    """(n,) bool, True for half A: ``keyed_uniform(key, sample_id, "split_half") < 0.5``."""
    ids = np.asarray(sample_ids).astype(str)
    if ids.ndim != 1:
        raise ValueError(f"sample_ids must be 1-D, got shape {ids.shape}")
    return keyed_uniform(key, ids.tolist(), "split_half") < 0.5


def _direction(s, m, hard, choose, score, weights):
    """Match on rows ``choose``, metrics (and AP replicates) on rows ``score``; None if undefined."""
    if degenerate_reason(m[choose]) or degenerate_reason(m[score]):
        return None
    col, comp = best_candidate(s[choose], m[choose])
    metrics = match_metrics(s[score], m[score], col, comp, hard[score])
    boot = None
    if weights is not None:
        cand = candidate_scores(s[score], col, comp)
        boot = weighted_average_precision(cand, m[score], weights[:, score])
    return (col, comp), metrics, boot


def _mean(values: list) -> np.ndarray | float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanmean(np.stack(values), axis=0)


def split_half_for_stratum(s: np.ndarray, member: np.ndarray, half: np.ndarray,
                           weights: np.ndarray | None = None) -> dict[str, Any]:
    """One stratum's row (keys: module docstring) from ``s (n, k)``, ``member (n,)``, ``half (n,)``."""
    row: dict[str, Any] = {"n": len(member), "n_members": int(member.sum()), "n_slices": s.shape[1],
                           "match_by": "ap", "n_half_a": int(half.sum())}
    reason = degenerate_reason(member)
    if not reason:
        col, comp = best_candidate(s, member)
        cand = candidate_scores(s, col, comp)
        row.update(match_slice=col, match_complement=comp, ap_insample=average_precision(cand, member),
                   p_at_10_dcbench=precision_at_k(cand, member, 10))
    else:
        row.update(match_slice=-1, match_complement=False, ap_insample=math.nan, p_at_10_dcbench=math.nan)
    hard = hard_assignment(s)
    dirs = [] if reason else [_direction(s, member, hard, a, b, weights)
                              for a, b in ((half, ~half), (~half, half))]
    done = [d for d in dirs if d is not None]
    for name, d in zip("ab", dirs or [None, None]):
        row[f"match_slice_{name}"] = d[0][0] if d else -1
        row[f"match_complement_{name}"] = bool(d[0][1]) if d else False
    row["n_directions"] = len(done)
    row["split_agreement"] = float(done[0][0] == done[1][0]) if len(done) == 2 else math.nan
    if not done:
        reason = reason or "the stratum lacks members or non-members in a half of test"
        row.update(dict.fromkeys(_METRICS, math.nan))
    else:
        mean = _mean([np.array([d[1][k] for k in _METRICS]) for d in done])
        row.update({k: float(v) for k, v in zip(_METRICS, mean)})
    if weights is not None:
        boot = _mean([d[2] for d in done]) if done else np.full(len(weights), np.nan)
        row["ap_boot"] = [round(float(v), 6) for v in boot]
    row["nan_reason"] = reason
    return row


def score_split_half(
    slice_scores: ArrayLike,
    strata: ArrayLike,
    half: ArrayLike,
    stratum_ids: Sequence[int] | None = None,
    boot_weights: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Split-half recovery of every true stratum (the MedStrata default scorer).

    Args:
        slice_scores: (n, k) float in [0, 1], a method's ``predict_proba`` on test.
        strata: (n,) int true stratum ids (0 = in no stratum), or bool (stratum 1).
        half: (n,) bool, True for half A (see :func:`split_halves`).
        stratum_ids: the ids the task declares; a declared id absent from test gets a NaN row with
            ``nan_reason``. Default: the ids >= 1 present in ``strata``.
        boot_weights: optional (B, n) resampling frequencies; adds ``ap_boot`` to every row.

    Returns:
        One flat dict per stratum id (increasing), with ``stratum_id``, the keys of
        :func:`split_half_for_stratum` and ``ami``, ``ari``.
    """
    s = as_slice_scores(slice_scores)
    t = as_strata(strata, s.shape[0])
    h = np.asarray(half)
    if h.shape != t.shape or h.dtype != bool:
        raise ValueError(f"half must be a bool vector of length {len(t)}, got {h.dtype} {h.shape}")
    if boot_weights is not None and np.shape(boot_weights)[1:] != (len(t),):
        raise ValueError(f"boot_weights must be (B, {len(t)}), got {np.shape(boot_weights)}")
    ids = sorted({int(i) for i in np.unique(t) if i >= 1} if stratum_ids is None else
                 {int(i) for i in stratum_ids})
    if any(i < 1 for i in ids):
        raise ValueError("stratum ids to score must be >= 1 (0 = in no stratum)")
    agreement = clustering_agreement(s, t)
    return [{"stratum_id": i, **split_half_for_stratum(s, t == i, h, boot_weights), **agreement}
            for i in ids]
