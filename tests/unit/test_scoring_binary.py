"""Binary ranking metrics (P@k, AP, AUROC, hard P/R/F1) against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from medstrata.scoring import auroc, average_precision, hard_prf, precision_at_k, rank_order

N_CASES = 120


def random_case(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Case i: scores with many ties on even i; at least one member and one non-member."""
    rng = np.random.default_rng(i)
    n = int(rng.integers(2, 150))
    scores = rng.random(n)
    if i % 2 == 0:
        scores = np.round(scores, 1)
    member = rng.random(n) < rng.uniform(0.05, 0.9)
    member[rng.integers(n)] = True
    member[(np.flatnonzero(member)[0] + 1) % n] = False
    return scores, member


def brute_p_at_k(scores, member, k) -> float:
    """Written independently: sum over members of P(member lands in the top K) under random tie order.

    A sample with ``a`` strictly higher scores and ``t`` samples tied with it (itself included) is
    in the top K with probability ``clip((K - a) / t, 0, 1)``.
    """
    top = min(k, len(scores))
    total = 0.0
    for i in range(len(scores)):
        if member[i]:
            above = sum(1 for s in scores if s > scores[i])
            tied = sum(1 for s in scores if s == scores[i])
            total += min(1.0, max(0.0, (top - above) / tied))
    return total / top


@pytest.mark.parametrize("i", range(N_CASES))
def test_metrics_agree_with_independent_computation(i):
    s, m = random_case(i)
    assert abs(average_precision(s, m) - average_precision_score(m, s)) < 1e-9
    assert abs(auroc(s, m) - roc_auc_score(m, s)) < 1e-9
    for k in (1, 10, 25):
        assert abs(precision_at_k(s, m, k) - brute_p_at_k(s, m, k)) < 1e-9
    pred = s >= 0.5
    mine = hard_prf(pred, m)
    ref = precision_recall_fscore_support(m, pred, average="binary", zero_division=0)[:3]
    assert np.allclose(mine, ref, atol=1e-9, rtol=0)


def test_rank_order_is_stable_under_ties():
    assert rank_order([0.5, 0.9, 0.5, 0.9]).tolist() == [1, 3, 0, 2]


def test_p_at_k_tie_at_boundary_is_the_expectation_over_tie_orders():
    # All scores tie: the top-1 is a random one of the three.
    assert precision_at_k([0.5, 0.5, 0.5], [0, 1, 1], 1) == pytest.approx(2 / 3)
    assert precision_at_k([0.5, 0.5, 0.5], [1, 0, 0], 1) == pytest.approx(1 / 3)
    # The minimal case: 12 tied at 1.0 holding 6 members, then 8 zeros: 0.5 either order.
    s, m = np.r_[np.ones(12), np.zeros(8)], np.r_[np.ones(6), np.zeros(14)].astype(bool)
    assert precision_at_k(s, m, 10) == 0.5
    assert precision_at_k(s, np.r_[np.zeros(6), np.ones(6), np.zeros(8)].astype(bool), 10) == 0.5


def test_p_at_k_equals_the_mean_over_sampled_tie_orders():
    rng = np.random.default_rng(7)
    s = np.round(rng.random(40), 1)
    m = rng.random(40) < 0.4
    draws = []
    for _ in range(4000):
        order = np.lexsort((rng.random(40), -s))  # score first, random among ties
        draws.append(m[order[:10]].mean())
    assert abs(np.mean(draws) - precision_at_k(s, m, 10)) < 0.01


def test_p_at_k_with_fewer_samples_than_k_uses_n():
    assert precision_at_k([0.9, 0.1, 0.4], [1, 0, 1], 10) == pytest.approx(2 / 3)
    assert math.isnan(precision_at_k([], [], 10))
    with pytest.raises(ValueError):
        precision_at_k([0.1], [1], 0)


def test_undefined_cases_are_nan_not_errors():
    assert math.isnan(average_precision([0.1, 0.2], [0, 0]))
    assert average_precision([0.1, 0.2], [1, 1]) == 1.0
    assert math.isnan(auroc([0.1, 0.2], [0, 0]))
    assert math.isnan(auroc([0.1, 0.2], [1, 1]))
    assert all(math.isnan(v) for v in hard_prf([True, False], [False, False]))


def test_empty_prediction_has_zero_precision_and_f1():
    assert hard_prf([False, False, False], [True, False, True]) == (0.0, 0.0, 0.0)


def test_all_ties_give_chance_auroc_and_prevalence_ap():
    assert auroc([0.3] * 4, [1, 0, 1, 0]) == 0.5
    assert average_precision([0.3] * 4, [1, 0, 0, 0]) == 0.25


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        auroc([0.1, np.nan], [0, 1])
    with pytest.raises(ValueError):
        average_precision([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError):
        precision_at_k([0.1, 0.2], [0, 1, 1], 1)
