"""Registry-wide conformance battery for discovery methods.

Every registered method (built-ins and any installed plug-in) runs every check in
``medstrata.methods.checks.CHECKS``: clone and fit-returns-self, not-fitted error, shapes and
ranges, determinism given ``random_state``, independence from row order (up to relabelling of the
slices), tiny inputs, a single class, ``n_slices > n``, inputs left unchanged, global RNG untouched.
A new method is covered with no edit here. Each per-method test asserts that every expected check
ran and passed (a skip inside a check counts as a failure), so a skipped check cannot pass unnoticed.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from medstrata.methods import get_method, get_method_class, list_methods
from medstrata.methods.checks import CHECKS, make_check_data, same_up_to_relabelling

METHODS = list_methods()
#: Non-default settings that change a method's algorithm, checked like methods of their own.
VARIANTS = {"george+overcluster": ("george", {"overcluster": True, "size_threshold_abs": 3})}
CASES = METHODS + sorted(VARIANTS)
EXPECTED_CHECKS = {
    "check_clone_and_fit", "check_not_fitted_raises", "check_shapes_and_ranges",
    "check_determinism", "check_order_invariance", "check_tiny_inputs", "check_single_class",
    "check_more_slices_than_samples", "check_inputs_unchanged", "check_no_global_rng",
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny problems on a shared 2-core machine: BLAS/OpenMP threads only add contention."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def data():
    return make_check_data()


def _factory(case, truth):
    name, fixed = VARIANTS.get(case, (case, {}))
    cls = get_method_class(name)

    def make(**params):
        if cls.is_oracle:  # the only kind of method that may read ground truth
            params.setdefault("truth", truth)
        return get_method(name, **{**fixed, **params})

    return make


def run_checks(make, data, checks) -> tuple[list[str], list[str]]:
    """(names of the checks that passed, failure messages). A skip inside a check is a failure."""
    passed, failures = [], []
    for check in checks:
        try:
            check(make, data)
        except (Exception, pytest.skip.Exception) as exc:
            failures.append(f"{check.__name__}: {type(exc).__name__}: {exc}")
        else:
            passed.append(check.__name__)
    return passed, failures


@pytest.mark.parametrize("name", CASES)
def test_method_conforms(name, data):
    passed, failures = run_checks(_factory(name, data.truth), data, CHECKS)
    assert not failures, f"{name} failed {len(failures)} check(s):\n" + "\n".join(failures)
    assert set(passed) == EXPECTED_CHECKS, f"checks that ran and passed: {sorted(passed)}"


def test_a_skipping_or_failing_check_fails_the_method(data):
    """The battery's runner itself: a check that skips or raises is reported, never counted as passed."""

    def check_skips(make, data):
        pytest.skip("not applicable")

    def check_raises(make, data):
        raise AssertionError("wrong")

    def check_ok(make, data):
        pass

    passed, failures = run_checks(_factory("random", data.truth), data, [check_skips, check_raises, check_ok])
    assert passed == ["check_ok"] and len(failures) == 2
    assert failures[0].startswith("check_skips: Skipped") and failures[1].startswith("check_raises: AssertionError")


def test_battery_covers_the_registry_and_all_checks():
    assert METHODS == list_methods(), "the registry changed after collection"
    assert {"random", "oracle", "confusion", "loss_rank", "error_set", "error_set_ref", "kmeans",
            "george", "domino_mixture", "spotlight", "failure_directions",
            "multiaccuracy"} <= set(METHODS)
    assert {c.__name__ for c in CHECKS} == EXPECTED_CHECKS and len(CHECKS) == len(EXPECTED_CHECKS)


def test_relabelling_comparison_is_strict():
    a = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]])
    assert same_up_to_relabelling(a, a[:, ::-1])
    assert not same_up_to_relabelling(a, a[::-1])  # rows matter
    b = a.copy()
    b[0, 0] += 1e-3
    assert not same_up_to_relabelling(a, b)


def test_a_broken_method_fails_the_battery(data):
    """The battery must be able to fail: a method that depends on row order is caught."""
    from medstrata.methods.checks import check_order_invariance
    from medstrata.methods.random import RandomMethod

    class RowOrder(RandomMethod):
        def predict_proba(self, problem):  # bypasses the base class's sorting on purpose
            return np.tile(np.linspace(0, 1, problem.n)[:, None], (1, self.n_slices))

    with pytest.raises(AssertionError, match="order"):
        check_order_invariance(lambda **kw: RowOrder(**kw), data)
