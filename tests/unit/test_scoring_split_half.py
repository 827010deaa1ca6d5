"""Split-half matching, within-cell replicates, and invariance of every metric to row order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medstrata.scoring import (
    average_precision, cell_bootstrap_weights, score_recovery, score_split_half, split_halves,
    weighted_average_precision,
)

N_SHUFFLE_CASES = 320


def tied_case(i: int):
    """Case i: (n, k) scores with heavy ties (2 to 4 distinct values per column, some all-zero rows),
    strata ids 0..3, sample ids."""
    rng = np.random.default_rng(5000 + i)
    n, k = int(rng.integers(20, 160)), int(rng.integers(1, 7))
    levels = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=int(rng.integers(2, 5)), replace=False)
    scores = rng.choice(levels, size=(n, k))
    strata = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 4, n))
    col = int(rng.integers(k))
    scores[strata == 1, col] = levels.max()  # a tied block that holds the stratum and more
    scores[rng.random(n) < 0.15] = 0.0
    ids = np.array([f"case{i}_s{j:04d}" for j in range(n)], dtype=object)
    return scores, strata, ids


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("i", range(N_SHUFFLE_CASES))
def test_shuffling_rows_changes_no_metric_and_no_match(i):
    scores, strata, ids = tied_case(i)
    perm = np.random.default_rng(i).permutation(len(ids))
    weights = cell_bootstrap_weights(ids, f"cell{i}", n_boot=20)
    before = score_split_half(scores, strata, split_halves(ids, f"t{i}"), [1, 2, 3, 4], weights)
    after = score_split_half(scores[perm], strata[perm], split_halves(ids[perm], f"t{i}"), [1, 2, 3, 4],
                             cell_bootstrap_weights(ids[perm], f"cell{i}", n_boot=20))
    for r0, r1 in zip(before, after):
        assert r0.keys() == r1.keys()
        for key in r0:
            if key == "ap_boot":
                assert np.allclose(r0[key], r1[key], equal_nan=True, rtol=0, atol=1e-12)
            else:
                assert _same(r0[key], r1[key]), (key, r0[key], r1[key])
    full0, full1 = score_recovery(scores, strata), score_recovery(scores[perm], strata[perm])
    assert [list(r.values()) for r in full0] == [list(r.values()) for r in full1] or all(
        all(_same(r0[k], r1[k]) for k in r0) for r0, r1 in zip(full0, full1))


def test_halves_and_weights_are_keyed_by_sample_id():
    ids = np.array([f"s{j}" for j in range(2000)])
    half = split_halves(ids, "task")
    assert 0.45 < half.mean() < 0.55
    assert not np.array_equal(half, split_halves(ids, "other task"))
    assert np.array_equal(split_halves(ids[::-1], "task"), half[::-1])
    w = cell_bootstrap_weights(ids, "cell", n_boot=50)
    assert w.shape == (50, 2000) and abs(w.mean() - 1) < 0.02
    assert np.array_equal(cell_bootstrap_weights(ids[::-1], "cell", n_boot=50), w[:, ::-1])
    with pytest.raises(ValueError):
        cell_bootstrap_weights(np.array(["a", "a"]), "cell")


@pytest.mark.parametrize("i", range(20))
def test_weighted_ap_equals_ap_of_the_resampled_set(i):
    rng = np.random.default_rng(i)
    s, m = np.round(rng.random(60), 1), rng.random(60) < 0.3
    w = rng.poisson(1.0, size=(5, 60))
    got = weighted_average_precision(s, m, w)
    for b in range(5):
        ref = average_precision(np.repeat(s, w[b]), np.repeat(m, w[b])) if m[w[b] > 0].any() else math.nan
        assert _same(float(got[b]), ref) or abs(got[b] - ref) < 1e-12


def test_split_half_removes_the_optimism_of_best_of_k():
    # 40 slices of pure noise: the best of 80 candidates looks good in-sample, not out of sample.
    rng = np.random.default_rng(0)
    n = 400
    ids = np.array([f"s{j}" for j in range(n)])
    strata = (rng.random(n) < 0.1).astype(int)
    scores = rng.random((n, 40))
    row = score_split_half(scores, strata, split_halves(ids, "noise"))[0]
    prevalence = strata.mean()
    assert row["ap_insample"] > prevalence + 0.05
    assert abs(row["ap"] - prevalence) < 0.05
    assert row["n_directions"] == 2 and row["split_agreement"] in (0.0, 1.0)


def test_agreement_and_explicit_rows():
    n = 200
    ids = np.array([f"s{j}" for j in range(n)])
    strata = np.r_[np.ones(40, int), np.zeros(160, int)]
    scores = np.c_[np.r_[np.full(40, 0.9), np.full(160, 0.1)], np.full(n, 0.5)]
    rows = score_split_half(scores, strata, split_halves(ids, "t"), stratum_ids=[1, 2])
    assert rows[0]["split_agreement"] == 1.0 and rows[0]["ap"] == 1.0
    assert (rows[0]["match_slice_a"], rows[0]["match_slice_b"]) == (0, 0)
    assert rows[1]["n_members"] == 0 and math.isnan(rows[1]["ap"])
    assert rows[1]["nan_reason"] == "stratum has no members in the test set"
    # One member only: it sits in one half, so no direction is defined.
    one = score_split_half(scores, np.r_[1, np.zeros(n - 1, int)], split_halves(ids, "t"))[0]
    assert one["n_directions"] == 0 and "half" in one["nan_reason"] and math.isnan(one["split_agreement"])


def test_bad_half_raises():
    with pytest.raises(ValueError, match="half"):
        score_split_half(np.full((3, 1), 0.5), np.array([0, 1, 0]), np.array([1, 0, 1]))
