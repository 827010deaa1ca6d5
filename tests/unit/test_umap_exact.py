"""GEORGE's UMAP distance shortcut (:mod:`medstrata.methods._umap_exact`) gives sklearn's bits.

The shortcut only replaces *how* umap's own euclidean is called (from compiled code instead of once
per pair from Python), so every test compares exact equality, never a tolerance.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

umap = pytest.importorskip("umap")


def _sklearn(x, y=None):
    from sklearn.metrics import pairwise_distances
    from umap.distances import euclidean

    return pairwise_distances(x, y, metric=euclidean)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 3, 5), (40, 60, 7), (120, 90, 64)])
def test_exact_pairwise_equals_sklearn_bit_for_bit(dtype, shape):
    from umap.distances import euclidean

    from medstrata.methods._umap_exact import exact_pairwise

    n, m, d = shape
    rng = np.random.default_rng(n * 1000 + d)
    x = (rng.normal(size=(n, d)) * rng.uniform(0.1, 50)).astype(dtype)
    y = rng.normal(size=(m, d)).astype(dtype)
    x[n // 2] = x[0]  # a duplicated row: distance exactly 0 off the diagonal
    for got, want in [(exact_pairwise(x, None, euclidean), _sklearn(x)),
                      (exact_pairwise(x, x, euclidean), _sklearn(x, x)),
                      (exact_pairwise(x, y, euclidean), _sklearn(x, y)),
                      (exact_pairwise(x, y.astype(np.float64), euclidean), _sklearn(x, y.astype(np.float64)))]:
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want)


def test_only_the_calls_it_reproduces_are_taken_over():
    from umap.distances import euclidean, manhattan

    from medstrata.methods._umap_exact import _fits

    x = np.zeros((4, 3), np.float32)
    assert _fits(x, None, euclidean, {})
    assert not _fits(x, None, manhattan, {})                      # another metric
    assert not _fits(x, None, euclidean, {"w": 1})                 # keyword arguments
    assert not _fits(x, np.zeros((2, 4), np.float32), euclidean, {})  # column mismatch: sklearn's error
    assert not _fits(np.array([[np.nan, 0, 0]]), None, euclidean, {})  # non-finite: sklearn's error
    assert not _fits(x.astype(np.int64), None, euclidean, {})


def test_patch_is_scoped_and_reentrant():
    import umap.umap_ as umap_module

    from medstrata.methods._umap_exact import fast_distances

    before = umap_module.pairwise_distances
    reducer = umap.UMAP()
    with fast_distances(reducer):
        inside = umap_module.pairwise_distances
        assert inside is not before
        with fast_distances(reducer):
            assert umap_module.pairwise_distances is inside
        assert umap_module.pairwise_distances is inside
    assert umap_module.pairwise_distances is before
    with pytest.raises(RuntimeError), fast_distances(reducer):
        raise RuntimeError("restored on error too")
    assert umap_module.pairwise_distances is before


@pytest.mark.slow  # real UMAP (numba JIT, ~15 s)
def test_george_scores_equal_with_and_without_the_shortcut(monkeypatch):
    """GEORGE fitted on a planted problem, scored on another: identical slice scores."""
    from medstrata.methods import george, run_method
    from medstrata.methods.synthetic import make_planted

    val = make_planted(400, difficulty="medium", seed=5, split="val").problem
    test = make_planted(300, difficulty="medium", seed=5, split="test").problem
    params = {"n_slices": 3, "random_state": 2}
    fast = run_method("george", params, val, test)
    monkeypatch.setattr(george, "fast_distances", lambda reducer: contextlib.nullcontext())
    slow = run_method("george", params, val, test)
    assert np.array_equal(fast, slow)
