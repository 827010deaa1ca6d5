"""UMAP's small-data distance matrix, computed in compiled code with the same bits.

umap-learn (0.5.x) fits a set with fewer than 4,096 rows from the full pairwise distance matrix,
which it asks of sklearn's ``pairwise_distances`` with its own numba distance as a *Python
callable*; sklearn then calls it once per pair of rows from Python (``_pairwise_callable``). One
GEORGE run on an OrganAMNIST quick cell (fit on val, transform of test) made about 7.5 million
such calls (15 million row slices), about half of its time (benchmarks/RESULTS.md, section 1). :func:`fast_distances` swaps in, for the duration of a ``with``
block, a ``pairwise_distances`` that does the same per-pair calls of the same numba function from a
compiled double loop, and stores them exactly as sklearn does (upper triangle mirrored + diagonal
for one matrix; every cell for two; ``float32`` output when both inputs are ``float32``). Every
other call (another metric, keyword arguments, sparse input) goes to sklearn unchanged. The output
is bit-identical (tests/unit/test_umap_exact.py compares against sklearn on random data and GEORGE's
slice scores with and without it), so GEORGE's results and version do not change.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Any, Iterator

import numpy as np

_LOCK = threading.RLock()
_DEPTH = [0]


@functools.cache
def _kernels() -> tuple[Any, Any]:
    """(cross, same) numba kernels, compiled on first use: ``cross(x, y, metric)`` -> (n, m) float64
    every cell; ``same(x, metric)`` -> (n, n) float64, the upper triangle mirrored, then the diagonal."""
    import numba

    @numba.njit
    def cross(x, y, metric):  # pragma: no cover - compiled
        out = np.empty((x.shape[0], y.shape[0]))
        for i in range(x.shape[0]):
            for j in range(y.shape[0]):
                out[i, j] = metric(x[i], y[j])
        return out

    @numba.njit
    def same(x, metric):  # pragma: no cover - compiled
        n = x.shape[0]
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(i + 1, n):
                out[i, j] = metric(x[i], x[j])
                out[j, i] = out[i, j]
        for i in range(n):
            out[i, i] = metric(x[i], x[i])
        return out

    return cross, same


def exact_pairwise(X: np.ndarray, Y: np.ndarray | None, metric: Any) -> np.ndarray:
    """sklearn's ``pairwise_distances(X, Y, metric=metric)`` for a numba ``metric`` and dense
    (n, d) / (m, d) float arrays, bit for bit: (n, m) (or (n, n) when ``Y`` is None), float32 when
    every input is float32, else float64."""
    cross, same = _kernels()
    both32 = X.dtype == np.float32 and (Y is None or Y.dtype == np.float32)
    x = np.ascontiguousarray(X)
    out = same(x, metric) if Y is None or Y is X else cross(x, np.ascontiguousarray(Y), metric)
    return out.astype(np.float32) if both32 else out


def _fits(X: Any, Y: Any, metric: Any, kwds: dict) -> bool:
    """True when the call is one :func:`exact_pairwise` reproduces: umap's own euclidean, no keyword
    arguments, dense 2-D float32/float64 numpy inputs with as many columns."""
    from umap.distances import euclidean

    arrays = [X] if Y is None else [X, Y]
    return (metric is euclidean and not kwds
            and all(type(a) is np.ndarray and a.ndim == 2 and a.dtype in (np.float32, np.float64)
                    for a in arrays)
            and all(a.shape[1] == X.shape[1] for a in arrays)
            and all(np.isfinite(a).all() for a in arrays))


@contextlib.contextmanager
def fast_distances(reducer: Any) -> Iterator[None]:
    """Within the block, the ``pairwise_distances`` of the module that defines ``reducer``'s class
    (``umap.umap_`` for a ``umap.UMAP``) is :func:`exact_pairwise` where that gives the same bits
    (see :func:`_fits`) and sklearn's otherwise. A reducer from elsewhere (a test's stand-in) is left
    alone. Re-entrant; restored on exit."""
    import sys

    module = sys.modules.get(type(reducer).__module__)
    if module is None or not hasattr(module, "pairwise_distances") or not module.__name__.startswith("umap."):
        yield
        return
    with _LOCK:
        if _DEPTH[0] == 0:
            original = module.pairwise_distances

            def pairwise(X, Y=None, metric="euclidean", *args, **kwds):
                if not args and _fits(X, Y, metric, kwds):
                    return exact_pairwise(X, Y, metric)
                return original(X, Y, metric, *args, **kwds)

            pairwise.original = original
            module.pairwise_distances = pairwise
        _DEPTH[0] += 1
    try:
        yield
    finally:
        with _LOCK:
            _DEPTH[0] -= 1
            if _DEPTH[0] == 0:
                module.pairwise_distances = module.pairwise_distances.original
