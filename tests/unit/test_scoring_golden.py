"""Golden values: the hand-computed worked examples of docs/metrics.md.

Two checks: every ``>>>`` example on the page runs and prints what the page says (doctest), and the
hand-derived fractions are asserted here directly, so a change to either the code or the page fails.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest

from medstrata.scoring import (
    auroc, average_precision, precision_at_k, score_recovery, summarize, worst_group_metrics,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def test_docs_examples_run_as_doctests():
    result = doctest.testfile(str(DOC), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= 40  # guards against the examples silently disappearing


def test_binary_example():
    s, m = [0.9, 0.8, 0.8, 0.3, 0.1], [1, 0, 1, 0, 1]
    assert precision_at_k(s, m, 2) == 3 / 4  # expected over the two orders of the 0.8 tie
    assert precision_at_k(s, m, 10) == 3 / 5
    assert average_precision(s, m) == pytest.approx(34 / 45, abs=1e-12)
    assert auroc(s, m) == pytest.approx(7 / 12, abs=1e-12)


def test_recovery_example():
    scores = np.array([[.9, .2], [.7, .1], [.6, .8], [.3, .9], [.2, .4], [.1, .3]])
    one, two = score_recovery(scores, np.array([1, 1, 0, 0, 2, 2]))
    assert (one["match_slice"], one["match_complement"]) == (0, False)  # tie with (1, complement)
    assert (two["match_slice"], two["match_complement"]) == (0, True)
    expected_two = {"ap": 1, "auroc": 1, "p_at_10": 1 / 3, "p_at_25": 1 / 3,
                    "precision": 1 / 2, "recall": 1, "f1": 2 / 3}
    for key, value in expected_two.items():
        assert two[key] == pytest.approx(value, abs=1e-12), key
    assert one["f1"] == 1.0
    assert one["ari"] == pytest.approx(4 / 9, abs=1e-12)
    assert one["ami"] == pytest.approx(0.615385, abs=1e-6)


def test_worst_group_example():
    p1 = np.array([.2, .4, .6, .3, .9, .7, .45, .35])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    st = np.array([0, 0, 1, 1, 0, 0, 0, 2])
    probs = np.stack([1 - p1, p1], axis=1)
    w = worst_group_metrics(y, probs, st, {(0, 0): 50, (0, 1): 10, (1, 0): 36, (1, 2): 4})
    expected = {"acc_avg": 5 / 8, "acc_wg": 0, "gap_rel": 1, "acc_group_mean": 13 / 24,
                "acc_adjusted": 0.79, "auroc_avg": 13 / 16, "auroc_wg": 1 / 2,
                "auroc_y0_s0": 7 / 8, "auroc_y0_s1": 6 / 8, "auroc_y1_s0": 11 / 12}
    for key, value in expected.items():
        assert w[key] == pytest.approx(value, abs=1e-12), key
    w2 = worst_group_metrics(y, probs, st, min_group_size=2)
    assert (w2["worst_group"], w2["acc_wg"], w2["auroc_wg"]) == ("y0_s1", 0.5, 0.75)
    assert w2["gap_rel"] == pytest.approx(0.2) and w2["acc_group_mean"] == pytest.approx(13 / 18)


def test_summarize_example():
    out = summarize([0.7, 0.8, 0.9], key="doc-example")
    assert out["mean"] == pytest.approx(0.8) and out["std"] == pytest.approx(0.1)
    # Exact bootstrap distribution puts 1/27 > 2.5 % on each extreme, so the interval is [0.7, 0.9].
    assert out["ci_low"] == pytest.approx(0.7) and out["ci_high"] == pytest.approx(0.9)


def test_split_half_example():
    from medstrata.scoring import score_split_half

    scores = np.array([[.9, .5], [.8, .1], [.3, .9], [.2, .3], [.7, .2], [.4, .8], [.6, .1], [.1, .6]])
    half = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    r = score_split_half(scores, np.array([1, 1, 0, 0, 1, 1, 0, 0]), half)[0]
    expected = {"ap": (5 / 6 + 1) / 2, "auroc": (3 / 4 + 1) / 2, "p_at_10": 1 / 2, "f1": 3 / 4,
                "ap_insample": 0.95, "split_agreement": 1.0}
    for key, value in expected.items():
        assert r[key] == pytest.approx(value, abs=1e-12), key


def test_tied_block_example_of_the_issue():
    s = np.r_[np.ones(12), np.zeros(8)]
    for member in (np.r_[np.ones(6), np.zeros(14)], np.r_[np.zeros(6), np.ones(6), np.zeros(8)]):
        assert precision_at_k(s, member.astype(bool), 10) == 0.5
