"""Stratum recovery: matching rule, metrics and edge cases, against a brute-force scorer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    adjusted_mutual_info_score, adjusted_rand_score, average_precision_score,
    precision_recall_fscore_support, roc_auc_score,
)

from medstrata.scoring import recovery_for_stratum, score_recovery, score_recovery_facts
from tests.unit.test_scoring_binary import brute_p_at_k

N_CASES = 100


def random_task(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Case i: slice scores (n, k), ties on odd i; strata ids 0..3 where 0 is the majority."""
    rng = np.random.default_rng(1000 + i)
    n, k = int(rng.integers(12, 120)), int(rng.integers(1, 6))
    scores = rng.random((n, k))
    if i % 2:
        scores = np.round(scores, 1)
    if i % 3 == 0:
        scores[rng.random(n) < 0.3] = 0.0  # rows with no positive score: unassigned
    strata = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 4, n))
    # Plant a signal in one slice for some strata so that plain and complement matches both occur.
    col = int(rng.integers(k))
    scores[:, col] = np.clip(scores[:, col] + 0.3 * (strata == 1) - 0.3 * (strata == 2), 0, 1)
    return scores, strata


def brute_hard(scores: np.ndarray) -> list[int]:
    """Argmax slice (lowest on ties), -1 for a row of zeros (unassigned)."""
    return [-1 if max(row) == 0 else max(range(len(row)), key=lambda j: (row[j], -j)) for row in scores]


def brute_force_row(scores: np.ndarray, member: np.ndarray) -> dict:
    """Written independently: sklearn metrics, Python sorts and loops."""
    cands = []
    for col in range(scores.shape[1]):
        for comp in (0, 1):
            cand = 1.0 - scores[:, col] if comp else scores[:, col]
            cands.append((average_precision_score(member, cand), col, comp, cand))
    best_ap = max(c[0] for c in cands)
    ap, col, comp, cand = next(c for c in cands if c[0] >= best_ap - 1e-12)
    hard = brute_hard(scores)
    pred = np.array([(h != col) if comp else (h == col) for h in hard])
    p, r, f, _ = precision_recall_fscore_support(member, pred, average="binary", zero_division=0)
    return {"match_slice": col, "match_complement": bool(comp), "ap": ap,
            "auroc": roc_auc_score(member, cand),
            "p_at_10": brute_p_at_k(cand, member, 10), "p_at_25": brute_p_at_k(cand, member, 25),
            "precision": p, "recall": r, "f1": f}


@pytest.mark.parametrize("i", range(N_CASES))
def test_agrees_with_brute_force(i):
    scores, strata = random_task(i)
    rows = score_recovery(scores, strata)
    assert [r["stratum_id"] for r in rows] == sorted(set(strata[strata > 0].tolist()))
    hard = brute_hard(scores)
    for row in rows:
        member = strata == row["stratum_id"]
        ref = brute_force_row(scores, member)
        assert (row["match_slice"], row["match_complement"]) == (ref["match_slice"],
                                                                ref["match_complement"])
        for key in ("ap", "auroc", "p_at_10", "p_at_25", "precision", "recall", "f1"):
            assert abs(row[key] - ref[key]) < 1e-9, key
        assert abs(row["ami"] - adjusted_mutual_info_score(strata, hard)) < 1e-9
        assert abs(row["ari"] - adjusted_rand_score(strata, hard)) < 1e-9
        assert row["nan_reason"] == "" and row["n_members"] == member.sum()


def test_tie_goes_to_lowest_column_then_plain():
    # Columns 0 and 1 identical; column 2 is the complement of column 0: all three tie at AP = 1.
    s0 = np.array([0.9, 0.8, 0.2, 0.1])
    scores = np.stack([s0, s0, 1 - s0], axis=1)
    row = recovery_for_stratum(scores, [1, 1, 0, 0])
    assert (row["match_slice"], row["match_complement"]) == (0, False)
    row = recovery_for_stratum(scores, [0, 0, 1, 1])
    assert (row["match_slice"], row["match_complement"]) == (0, True)


def test_tie_between_a_column_and_its_own_complement_goes_to_plain():
    # AP(s) = AP(1 - s) = 3/4 here (members at ranks 1 and 4, two tied non-members in between).
    row = recovery_for_stratum(np.array([0.9, 0.1, 0.5, 0.5]), [1, 1, 0, 0])
    assert (row["match_slice"], row["match_complement"], row["ap"]) == (0, False, 0.75)
    row = recovery_for_stratum(np.full((4, 2), 0.5), [1, 0, 0, 0])  # every candidate ties
    assert (row["match_slice"], row["match_complement"], row["ap"]) == (0, False, 0.25)


def test_complement_of_a_single_slice_k1():
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    rows = score_recovery(s, np.array([0, 0, 0, 1, 1]))  # 1-D scores: k = 1
    row = rows[0]
    assert (row["match_slice"], row["match_complement"], row["ap"]) == (0, True, 1.0)
    # k = 1: argmax puts everyone in slice 0, so the complement's hard set is empty.
    assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)
    assert row["ami"] == 0.0 and row["p_at_10"] == pytest.approx(2 / 5)


def test_rows_without_a_positive_score_are_unassigned():
    # error_set-like output: only 3 rows scored; before, the 97 zero rows went to slice 0.
    scores = np.zeros((100, 2))
    scores[:3, 0] = 1.0
    member = np.zeros(100, bool)
    member[:5] = True
    row = recovery_for_stratum(scores, member)
    assert (row["match_slice"], row["match_complement"]) == (0, False)
    assert (row["precision"], row["recall"]) == (1.0, 0.6) and row["f1"] == pytest.approx(0.75)
    # Nobody scored: an empty plain set, AMI = ARI = 0 (one cluster against a real partition).
    flat = score_recovery(np.zeros((6, 3)), np.array([0, 0, 1, 1, 0, 0]))[0]
    assert flat["ami"] == 0.0 and flat["ari"] == 0.0 and flat["f1"] == 0.0


def test_k1_plain_hard_assignment_is_everyone():
    row = recovery_for_stratum(np.array([[0.9], [0.8], [0.1], [0.2]]), [1, 1, 0, 0])
    assert (row["match_complement"], row["precision"], row["recall"]) == (False, 0.5, 1.0)


@pytest.mark.parametrize("member,reason", [
    ([0, 0, 0, 0], "no members"), ([1, 1, 1, 1], "every test sample"),
])
def test_degenerate_strata_give_nan_with_reason(member, reason):
    row = recovery_for_stratum(np.random.default_rng(0).random((4, 2)), member)
    assert reason in row["nan_reason"] and row["match_slice"] == -1
    assert all(math.isnan(row[k]) for k in ("ap", "auroc", "p_at_10", "precision", "f1"))


def test_declared_stratum_absent_from_test_yields_nan_row():
    rows = score_recovery(np.full((3, 2), 0.5), np.array([0, 1, 0]), stratum_ids=[1, 4])
    assert [r["stratum_id"] for r in rows] == [1, 4]
    assert rows[1]["n_members"] == 0 and math.isnan(rows[1]["ap"])
    assert not math.isnan(rows[1]["ari"])


def test_bool_truth_is_stratum_one():
    rows = score_recovery(np.array([[0.9], [0.1], [0.8]]), np.array([True, False, True]))
    assert len(rows) == 1 and rows[0]["stratum_id"] == 1 and rows[0]["ap"] == 1.0


def test_small_n_p_at_k_uses_all_samples():
    row = recovery_for_stratum(np.array([[0.9], [0.1], [0.8]]), [1, 0, 0])
    assert row["p_at_10"] == pytest.approx(1 / 3) and row["p_at_25"] == pytest.approx(1 / 3)


def test_facts_variant_matches_by_p_at_10():
    # Slice 0 has the best AP; slice 1 has the best P@10 (10 members ranked first, the rest last).
    n = 40
    member = np.zeros(n, bool)
    member[:20] = True
    s0 = np.linspace(1, 0, n)
    s0[[0, 1]] = s0[[25, 26]].copy()
    s0[[25, 26]] = [1.0, 0.99]
    s1 = np.r_[np.full(10, 0.9), np.full(10, 0.0), np.full(20, 0.5)]
    scores = np.stack([s0, s1], axis=1)
    ap_row = score_recovery(scores, member.astype(int))[0]
    facts_row = score_recovery_facts(scores, member.astype(int))[0]
    assert (ap_row["match_slice"], facts_row["match_slice"]) == (0, 1)
    assert facts_row["match_by"] == "p_at_10" and facts_row["p_at_10"] == 1.0
    assert ap_row["p_at_10"] == 0.8


@pytest.mark.parametrize("bad", [np.array([[1.2]]), np.array([[np.nan]]), np.array([[-0.1]])])
def test_scores_out_of_range_raise(bad):
    with pytest.raises(ValueError):
        score_recovery(bad, np.array([1]))


def test_bad_strata_raise():
    with pytest.raises(ValueError):
        score_recovery(np.full((2, 1), 0.5), np.array([-1, 1]))
    with pytest.raises(ValueError):
        score_recovery(np.full((2, 1), 0.5), np.array([0.5, 1.0]))
    with pytest.raises(ValueError):
        recovery_for_stratum(np.full((2, 1), 0.5), [0, 1], match_by="f1")
