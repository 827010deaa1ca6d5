"""AMI and ARI against scikit-learn, plus their limit cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from medstrata.scoring import adjusted_mutual_info, adjusted_rand_index

N_CASES = 120


def random_partitions(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Case i: two labelings of n samples; every third case is correlated, some have one cluster."""
    rng = np.random.default_rng(i)
    n = int(rng.integers(1, 250))
    a = rng.integers(0, int(rng.integers(1, 7)), n)
    b = rng.integers(0, int(rng.integers(1, 9)), n) + 10
    if i % 3 == 0:
        b = np.where(rng.random(n) < 0.7, a, b)
    return a, b


@pytest.mark.parametrize("i", range(N_CASES))
def test_agree_with_sklearn(i):
    a, b = random_partitions(i)
    assert abs(adjusted_rand_index(a, b) - adjusted_rand_score(a, b)) < 1e-9
    assert abs(adjusted_mutual_info(a, b) - adjusted_mutual_info_score(a, b)) < 1e-9


def test_perfect_match_up_to_relabelling():
    a = [0, 0, 1, 1, 2, 2]
    b = [5, 5, 3, 3, 9, 9]
    assert adjusted_rand_index(a, b) == 1.0
    assert adjusted_mutual_info(a, b) == pytest.approx(1.0, abs=1e-12)


def test_limit_cases():
    assert adjusted_mutual_info([0, 0, 0], [1, 1, 1]) == 1.0
    assert adjusted_mutual_info([0, 0, 0], [0, 1, 2]) == 0.0
    assert adjusted_rand_index([0, 0, 0], [1, 1, 1]) == 1.0
    assert adjusted_rand_index([0], [3]) == 1.0
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == -0.5


def test_symmetry():
    a, b = random_partitions(7)
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_index(b, a), abs=1e-12)
    assert adjusted_mutual_info(a, b) == pytest.approx(adjusted_mutual_info(b, a), abs=1e-12)


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        adjusted_rand_index([0, 1], [0, 1, 2])
    with pytest.raises(ValueError):
        adjusted_mutual_info([], [])
