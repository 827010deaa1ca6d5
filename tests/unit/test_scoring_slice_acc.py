"""worst_slice_accuracy: worked examples, and the tie rule against brute force over tie orders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medstrata.scoring.slice_acc import expected_top_mean, worst_slice_accuracy


def test_worked_example():
    # slice 0 top-2 = rows 0, 1 (correct 1, 0) -> 0.5; slice 1 top-2 = rows 3, 2 (1, 0) -> 0.5
    s = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.3], [0.1, 0.9]])
    assert worst_slice_accuracy(s, np.array([1, 0, 0, 1], bool), frac=0.5, min_size=1) == 0.5
    # a slice that ranks both errors first: 0.0
    s2 = np.array([[0.1], [0.9], [0.8], [0.2]])
    assert worst_slice_accuracy(s2, np.array([1, 0, 0, 1], bool), frac=0.5, min_size=1) == 0.0


def _brute(score, value, m):
    """Mean over every order of the tied values of the top-m mean (stable sort per order)."""
    ties = np.unique(score)
    out = []
    for perm in itertools.permutations(range(len(score))):
        p = np.asarray(perm)
        order = sorted(range(len(score)), key=lambda i: (-score[i], p[i]))
        out.append(value[order[:m]].mean())
    assert len(ties) >= 1
    return float(np.mean(out))


@pytest.mark.parametrize("seed", range(12))
def test_ties_are_averaged_over_their_orders(seed):
    rng = np.random.default_rng(seed)
    n = 6
    score = rng.integers(0, 3, n).astype(float)  # heavy ties
    value = rng.integers(0, 2, n).astype(float)
    m = int(rng.integers(1, n + 1))
    assert expected_top_mean(score, value, m) == pytest.approx(_brute(score, value, m))


def test_row_order_does_not_matter_and_the_floor_applies():
    rng = np.random.default_rng(7)
    s = rng.integers(0, 4, (300, 3)).astype(float)
    c = rng.random(300) < 0.8
    perm = rng.permutation(300)
    assert worst_slice_accuracy(s, c) == pytest.approx(worst_slice_accuracy(s[perm], c[perm]))
    # top size: max(10, ceil(0.05 n)) = 15 for n = 300
    one = np.zeros((300, 1))
    one[:15, 0] = 1.0
    c2 = np.ones(300, bool)
    c2[:15] = False
    assert worst_slice_accuracy(one, c2) == 0.0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="must be"):
        worst_slice_accuracy(np.zeros(5), np.zeros(5, bool))
