"""The conformance checks every discovery method must pass (built-in or plug-in).

Use them on your own method before publishing it::

    from medstrata.methods.checks import run_checks
    failures = [r for r in run_checks(lambda **kw: MyMethod(**kw)) if r[1] is not None]

Each check takes ``make(**params) -> unfitted method`` and a :class:`CheckData`, and raises
``AssertionError`` (or any other exception) on failure. :data:`CHECKS` is the full battery; the
test suite runs it over every registered method and counts the checks that ran.
"""

from __future__ import annotations

import random as _stdlib_random
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from medstrata.methods.base import SliceDiscoveryMethod
from medstrata.methods.synthetic import make_planted
from medstrata.problem import Problem

MethodFactory = Callable[..., SliceDiscoveryMethod]


@dataclass(frozen=True)
class CheckData:
    """Fixed synthetic inputs for the checks; ``truth`` covers every sample id (for oracles)."""

    val: Problem
    test: Problem
    tiny_val: Problem
    tiny_test: Problem
    single_val: Problem
    single_test: Problem
    truth: dict


def make_check_data(n: int = 64, seed: int = 0) -> CheckData:
    """Medium-difficulty planted Problems: 2 classes, n rows; tiny (5 rows); one class only."""
    parts = {name: make_planted(size, difficulty="medium", n_classes=2, dim=8, seed=seed,
                                split=name)
             for name, size in [("val", n), ("test", n), ("tiny_val", 5), ("tiny_test", 5)]}
    truth: dict = {}
    for p in parts.values():
        truth.update(p.truth)
    one = {k: parts[k].problem.take(parts[k].problem.labels == 1) for k in ("val", "test")}
    return CheckData(parts["val"].problem, parts["test"].problem, parts["tiny_val"].problem,
                     parts["tiny_test"].problem, one["val"], one["test"], truth)


def _scores(make: MethodFactory, val: Problem, test: Problem, **params: object) -> np.ndarray:
    method = make(**params)
    return method.fit(val).predict_proba(test)


def _assert_valid(scores: np.ndarray, n: int, k: int) -> None:
    assert isinstance(scores, np.ndarray), f"predict_proba returned {type(scores).__name__}"
    assert scores.shape == (n, k), f"shape {scores.shape}, expected {(n, k)}"
    assert np.issubdtype(scores.dtype, np.floating), f"dtype {scores.dtype} is not float"
    assert np.all(np.isfinite(scores)), "non-finite scores"
    assert scores.min() >= 0.0 and scores.max() <= 1.0, "scores outside [0, 1]"


def same_up_to_relabelling(a: np.ndarray, b: np.ndarray, atol: float = 1e-8) -> bool:
    """True if the columns of (n, k) ``a`` and ``b`` are the same multiset (rows aligned)."""
    if a.shape != b.shape:
        return False
    unused = list(range(b.shape[1]))
    for j in range(a.shape[1]):
        match = next((m for m in unused if np.allclose(a[:, j], b[:, m], atol=atol, rtol=0)), None)
        if match is None:
            return False
        unused.remove(match)
    return True


def check_clone_and_fit(make: MethodFactory, data: CheckData) -> None:
    method = make(n_slices=3, random_state=7)
    twin = clone(method)
    assert type(twin) is type(method) and twin is not method
    assert sorted(twin.get_params()) == sorted(method.get_params())
    assert twin.n_slices == 3 and twin.random_state == 7
    assert twin.fit(data.val) is twin, "fit must return self"
    fitted = [k for k in vars(twin) if k.endswith("_") and not k.startswith("__")]
    assert fitted, "fit set no attribute ending in '_'"
    cls = type(method)
    assert isinstance(cls.version, str) and cls.version, "version must be a non-empty str"
    assert isinstance(cls.is_oracle, bool) and cls.citation, "is_oracle bool and citation required"
    _assert_valid(clone(twin).fit(data.val).predict_proba(data.test), data.test.n, 3)


def check_not_fitted_raises(make: MethodFactory, data: CheckData) -> None:
    try:
        make().predict_proba(data.test)
    except NotFittedError:
        return
    raise AssertionError("predict_proba before fit must raise sklearn's NotFittedError")


def check_shapes_and_ranges(make: MethodFactory, data: CheckData) -> None:
    for k in (1, 3, 5):
        _assert_valid(_scores(make, data.val, data.test, n_slices=k), data.test.n, k)
    _assert_valid(_scores(make, data.val, data.val, n_slices=2), data.val.n, 2)


def check_determinism(make: MethodFactory, data: CheckData) -> None:
    a = _scores(make, data.val, data.test, random_state=3)
    b = _scores(make, data.val, data.test, random_state=3)
    assert np.array_equal(a, b), "same random_state gave different scores"
    method = make(random_state=3).fit(data.val)
    method.fit(data.val)
    assert np.array_equal(method.predict_proba(data.test), a), "refitting changed the scores"


def check_order_invariance(make: MethodFactory, data: CheckData) -> None:
    rng = np.random.default_rng(12345)
    pv, pt = rng.permutation(data.val.n), rng.permutation(data.test.n)
    base = _scores(make, data.val, data.test)
    perm = _scores(make, data.val.take(pv), data.test.take(pt))
    row = {s: i for i, s in enumerate(data.test.take(pt).sample_ids.tolist())}
    back = perm[[row[s] for s in data.test.sample_ids.tolist()]]  # un-permute by sample id
    assert same_up_to_relabelling(base, back), "scores depend on the order of the rows"


def check_tiny_inputs(make: MethodFactory, data: CheckData) -> None:
    _assert_valid(_scores(make, data.tiny_val, data.tiny_test, n_slices=2), 5, 2)
    _assert_valid(_scores(make, data.val, data.tiny_test, n_slices=2), 5, 2)
    _assert_valid(_scores(make, data.tiny_val, data.test, n_slices=2), data.test.n, 2)
    one = data.tiny_test.take(np.array([0]))
    _assert_valid(_scores(make, data.tiny_val, one, n_slices=2), 1, 2)


def check_single_class(make: MethodFactory, data: CheckData) -> None:
    assert len(np.unique(data.single_val.labels)) == 1
    _assert_valid(_scores(make, data.single_val, data.single_test), data.single_test.n, 5)
    _assert_valid(_scores(make, data.single_val, data.test), data.test.n, 5)
    _assert_valid(_scores(make, data.val, data.single_test), data.single_test.n, 5)


def check_more_slices_than_samples(make: MethodFactory, data: CheckData) -> None:
    _assert_valid(_scores(make, data.tiny_val, data.tiny_test, n_slices=12), 5, 12)
    _assert_valid(_scores(make, data.val, data.tiny_test, n_slices=12), 5, 12)


def check_inputs_unchanged(make: MethodFactory, data: CheckData) -> None:
    before = {k: getattr(data.val, k).copy() for k in ("sample_ids", "labels", "probs", "losses",
                                                       "embeddings")}
    make().fit(data.val).predict_proba(data.val)
    for k, v in before.items():
        assert np.array_equal(getattr(data.val, k), v), f"the method modified Problem.{k}"


def check_no_global_rng(make: MethodFactory, data: CheckData) -> None:
    np_state, py_state = np.random.get_state(), _stdlib_random.getstate()
    _scores(make, data.val, data.test)
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(np_state, after)), "used numpy's global RNG"
    assert _stdlib_random.getstate() == py_state, "used Python's global random module"


CHECKS: tuple[Callable[[MethodFactory, CheckData], None], ...] = (
    check_clone_and_fit, check_not_fitted_raises, check_shapes_and_ranges, check_determinism,
    check_order_invariance, check_tiny_inputs, check_single_class,
    check_more_slices_than_samples, check_inputs_unchanged, check_no_global_rng,
)


def run_checks(make: MethodFactory, data: CheckData | None = None) -> list[tuple[str, str | None]]:
    """Run every check in :data:`CHECKS`; returns ``(check name, error or None)`` for each."""
    data = data or make_check_data()
    results = []
    for check in CHECKS:
        try:
            check(make, data)
            results.append((check.__name__, None))
        except Exception as exc:  # noqa: BLE001 - report every failing check, not just the first
            results.append((check.__name__, f"{type(exc).__name__}: {exc}"))
    return results
