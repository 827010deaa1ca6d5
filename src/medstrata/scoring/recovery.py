"""Recovery of each true stratum by a discovery method's predicted slices (dcbench/Domino protocol).

Inputs: ``slice_scores (n, k)`` in [0, 1] (a method's ``predict_proba`` on test, rows joined to the
ground truth by sample id before this point) and ``strata (n,)`` int true stratum ids, where 0 means
"in no hidden stratum" and every id >= 1 is one stratum to recover.

**Candidates.** For k predicted slices there are 2k candidates: each column ``j`` (score
``s_j``) and its complement (score ``1 - s_j``), in the order ``(0, plain), (0, complement),
(1, plain), ...``.

**Match (default, Domino/dcbench).** The candidate with the highest AP against the stratum. Ties
(exact float equality) go to the lowest column index, the plain column before its complement, i.e.
the first maximum in candidate order. ``score_recovery_facts`` matches by highest P@10 instead
(FACTS' rule), same tie rule; it is *not* the default and its rows say ``match_by="p_at_10"``.

**Reported for the match** (definitions in :mod:`medstrata.scoring.binary`): ``ap``, ``auroc``,
``p_at_10``, ``p_at_25`` on the candidate's scores, and ``precision``, ``recall``, ``f1`` of its
**hard assignment** (:func:`hard_assignment`): a sample whose scores are all 0 is *unassigned*
(-1); every other sample goes to its argmax slice (``np.argmax``: lowest column on ties). The plain
candidate ``j`` predicts ``{hard == j}``; the complement predicts everything else, ``{hard != j}``,
the unassigned samples included (they score ``1 - 0 = 1`` on every complement). A method that
scores nobody predicts an empty plain set: precision = recall = F1 = 0.

``ami`` and ``ari`` compare the partition ``hard`` (the unassigned samples form one extra cluster
of their own, label -1) with the full true stratum ids (0 included); they are task-level numbers,
repeated in every row of one call. Everyone unassigned is a single cluster: AMI = ARI = 0 unless
the truth is a single cluster too.

**Order.** Every number here is a function of the multiset of rows: AP and AUROC treat ties as one
threshold / half a win, P@k is the expectation over tie orders, and the match's tie rule is by
candidate index, never by row.

**Degenerate strata.** A stratum with no member in test, or whose members are the whole test set,
has no defined match: every metric except ``ami``/``ari`` is NaN, ``match_slice = -1``, and
``nan_reason`` says why (it is ``""`` on normal rows).

Citation::

    Eyuboglu et al., "Domino: Discovering Systematic Errors with Cross-Modal Embeddings", ICLR 2022,
    and dcbench (slice discovery task: best of slice or complement by AP; P@10).
    Yenamandra et al., "FACTS: First Amplify Correlations and Then Slice to Discover Bias",
    ICCV 2023 (best component by P@10).
    Sohoni et al., "No Subclass Left Behind", NeurIPS 2020 (hard-assignment precision and recall).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from medstrata.scoring.binary import (
    as_member, auroc, average_precision, hard_prf, precision_at_k,
)
from medstrata.scoring.clustering import adjusted_mutual_info, adjusted_rand_index

MATCH_CRITERIA: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "ap": average_precision,
    "p_at_10": lambda s, m: precision_at_k(s, m, 10),
}
_METRICS = ("ap", "auroc", "p_at_10", "p_at_25", "precision", "recall", "f1")


def as_slice_scores(slice_scores: ArrayLike) -> np.ndarray:
    """(n, k) float64 with k >= 1, finite, in [0, 1]; a 1-D input is read as k = 1."""
    s = np.asarray(slice_scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    if s.ndim != 2 or s.shape[1] < 1:
        raise ValueError(f"slice_scores must have shape (n, k) with k >= 1, got {s.shape}")
    if not np.isfinite(s).all() or (s < 0).any() or (s > 1).any():
        raise ValueError("slice_scores must be finite and in [0, 1]")
    return s


def as_strata(strata: ArrayLike, n: int) -> np.ndarray:
    """(n,) int64 stratum ids >= 0; a bool vector is read as ids {0, 1}."""
    t = np.asarray(strata)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"strata must be 1-D of length {n}, got shape {t.shape}")
    if t.dtype == bool:
        return t.astype(np.int64)
    if t.size and not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"strata must be integer ids, got dtype {t.dtype}")
    if t.size and t.min() < 0:
        raise ValueError("stratum ids must be >= 0 (0 = in no stratum)")
    return t.astype(np.int64)


def candidate_scores(scores: np.ndarray, col: int, complement: bool) -> np.ndarray:
    """(n,) scores of candidate ``(col, complement)``: ``s_col`` or ``1 - s_col``."""
    return 1.0 - scores[:, col] if complement else scores[:, col]


def best_candidate(
    scores: np.ndarray, member: np.ndarray, match_by: str = "ap"
) -> tuple[int, bool]:
    """``(column, complement)`` of the first candidate maximising ``match_by`` (see module doc)."""
    criterion = MATCH_CRITERIA[match_by]
    best, best_value = (0, False), -math.inf
    for col in range(scores.shape[1]):
        for complement in (False, True):
            value = criterion(candidate_scores(scores, col, complement), member)
            if value > best_value:
                best, best_value = (col, complement), value
    return best


def degenerate_reason(member: np.ndarray) -> str:
    """Why the stratum has no defined match (``""`` if it has one)."""
    if len(member) == 0:
        return "empty test set"
    if not member.any():
        return "stratum has no members in the test set"
    if member.all():
        return "every test sample is a member of the stratum"
    return ""


def recovery_for_stratum(
    slice_scores: ArrayLike, member: ArrayLike, match_by: str = "ap"
) -> dict[str, Any]:
    """Match one true stratum to a predicted slice or complement and score the match.

    Args:
        slice_scores: (n, k) float in [0, 1].
        member: (n,) bool membership of the true stratum.
        match_by: ``"ap"`` (default, Domino) or ``"p_at_10"`` (FACTS).

    Returns:
        Flat dict: ``n, n_members, n_slices, match_by, match_slice, match_complement``, the metrics
        ``ap, auroc, p_at_10, p_at_25, precision, recall, f1`` and ``nan_reason``.
    """
    if match_by not in MATCH_CRITERIA:
        raise ValueError(f"match_by must be one of {sorted(MATCH_CRITERIA)}, got {match_by!r}")
    s = as_slice_scores(slice_scores)
    m = as_member(member, s.shape[0])
    row: dict[str, Any] = {"n": len(m), "n_members": int(m.sum()), "n_slices": s.shape[1],
                           "match_by": match_by}
    reason = degenerate_reason(m)
    if reason:
        return {**row, "match_slice": -1, "match_complement": False,
                **dict.fromkeys(_METRICS, math.nan), "nan_reason": reason}
    col, complement = best_candidate(s, m, match_by)
    return {**row, "match_slice": col, "match_complement": complement,
            **match_metrics(s, m, col, complement), "nan_reason": ""}


def hard_assignment(slice_scores: np.ndarray) -> np.ndarray:
    """(n,) int64: the argmax slice of each row of ``slice_scores (n, k)``, -1 where all scores are 0."""
    hard = np.argmax(slice_scores, axis=1).astype(np.int64)
    hard[slice_scores.max(axis=1, initial=0.0) <= 0.0] = -1
    return hard


def match_metrics(s: np.ndarray, m: np.ndarray, col: int, complement: bool,
                  hard: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of candidate ``(col, complement)`` of ``s (n, k)`` against members ``m (n,)``.

    ``hard (n,)`` is :func:`hard_assignment` of ``s`` (computed when not given).
    """
    cand = candidate_scores(s, col, complement)
    in_slice = (hard_assignment(s) if hard is None else hard) == col
    precision, recall, f1 = hard_prf(~in_slice if complement else in_slice, m)
    return {"ap": average_precision(cand, m), "auroc": auroc(cand, m),
            "p_at_10": precision_at_k(cand, m, 10), "p_at_25": precision_at_k(cand, m, 25),
            "precision": precision, "recall": recall, "f1": f1}


def clustering_agreement(slice_scores: ArrayLike, strata: ArrayLike) -> dict[str, float]:
    """``ami`` and ``ari`` of the :func:`hard_assignment` partition of ``slice_scores (n, k)`` vs ``strata (n,)``."""
    s = as_slice_scores(slice_scores)
    t = as_strata(strata, s.shape[0])
    if len(t) == 0:
        return {"ami": math.nan, "ari": math.nan}
    hard = hard_assignment(s)
    return {"ami": adjusted_mutual_info(t, hard), "ari": adjusted_rand_index(t, hard)}


def score_recovery(
    slice_scores: ArrayLike,
    strata: ArrayLike,
    stratum_ids: Sequence[int] | None = None,
    match_by: str = "ap",
) -> list[dict[str, Any]]:
    """Score the recovery of every true stratum (dcbench/Domino match by AP).

    Args:
        slice_scores: (n, k) float in [0, 1], a method's ``predict_proba`` on test.
        strata: (n,) int true stratum ids (0 = in no stratum), or bool for a single stratum (id 1).
        stratum_ids: the ids to score; default: every id >= 1 present in ``strata``. Pass the ids
            the task declares so that a stratum absent from test yields a NaN row, not no row.
        match_by: ``"ap"`` (default) or ``"p_at_10"``; prefer :func:`score_recovery_facts`.

    Returns:
        One flat dict per stratum id, in increasing id order, with ``stratum_id`` plus the keys of
        :func:`recovery_for_stratum` and :func:`clustering_agreement`.
    """
    s = as_slice_scores(slice_scores)
    t = as_strata(strata, s.shape[0])
    ids = sorted({int(i) for i in np.unique(t) if i >= 1} if stratum_ids is None else
                 {int(i) for i in stratum_ids})
    if any(i < 1 for i in ids):
        raise ValueError("stratum ids to score must be >= 1 (0 = in no stratum)")
    agreement = clustering_agreement(s, t)
    return [{"stratum_id": i, **recovery_for_stratum(s, t == i, match_by), **agreement}
            for i in ids]


def score_recovery_facts(
    slice_scores: ArrayLike, strata: ArrayLike, stratum_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """As :func:`score_recovery`, but the match is the candidate with the highest P@10 (FACTS).

    Not the MedStrata default; rows carry ``match_by = "p_at_10"`` so the two cannot be confused.
    """
    return score_recovery(slice_scores, strata, stratum_ids, match_by="p_at_10")
