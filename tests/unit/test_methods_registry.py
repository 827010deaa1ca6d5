"""Registry, base-class contract and ``run_method``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from medstrata.errors import MedStrataError
from medstrata.methods import (
    MethodError,
    SliceDiscoveryMethod,
    UnknownMethodError,
    get_method,
    list_methods,
    method_info,
    register_method,
    run_method,
)
from medstrata.methods import registry
from medstrata.methods.base import citation_block
from medstrata.methods.synthetic import make_planted

BUILTINS = ["confusion", "domino_mixture", "error_set", "error_set_ref", "failure_directions",
            "george", "kmeans", "loss_rank", "multiaccuracy", "oracle", "random", "spotlight"]


@pytest.fixture
def planted():
    return (make_planted(30, seed=3, split="val"), make_planted(20, seed=3, split="test"))


class _Half(SliceDiscoveryMethod):
    """Scores one column with 1.5 (to be clipped) and 0.5; pads the rest."""

    citation = "test"

    def _fit(self, problem):
        self.seen_ = problem.sample_ids.copy()

    def _score(self, problem):
        return np.stack([np.full(problem.n, 1.5), np.arange(problem.n) / max(problem.n, 1)], 1)


def test_builtins_are_registered_under_stable_names():
    assert set(BUILTINS) <= set(list_methods())
    for name in BUILTINS:
        info = method_info(name)
        assert info["citation"] and info["version"] and info["plugin"] is False
        assert info["is_oracle"] is (name == "oracle")
        assert info["is_control"] is (name in ("oracle", "random"))
        assert info["defaults"]["n_slices"] == 5 and info["defaults"]["random_state"] == 0


def test_unknown_method_and_bad_params_are_user_errors():
    with pytest.raises(UnknownMethodError, match="'nope'.*available: .*confusion"):
        get_method("nope")
    with pytest.raises(MedStrataError, match="bad parameters for method 'kmeans'"):
        get_method("kmeans", no_such_param=1)


def test_register_method_validates(monkeypatch):
    monkeypatch.setattr(registry.REGISTRY, "builtins", dict(registry.REGISTRY.builtins))
    with pytest.raises(MedStrataError, match="already taken"):
        register_method("random")(_Half)
    with pytest.raises(MedStrataError, match="lower-case"):
        register_method("Bad-Name")(_Half)
    with pytest.raises(MedStrataError, match="not a subclass"):
        register_method("plain")(dict)
    register_method("half_test")(_Half)
    assert "half_test" in list_methods() and _Half.method_name == "half_test"


def test_base_sorts_rows_pads_and_clips(planted):
    val, test = planted
    m = _Half(n_slices=4).fit(val.problem)
    assert list(m.seen_) == sorted(val.problem.sample_ids)  # the hook sees rows sorted by id
    scores = m.predict_proba(test.problem)
    assert scores.shape == (20, 4) and np.all(scores[:, 0] == 1.0) and np.all(scores[:, 2:] == 0)
    rank = {s: i for i, s in enumerate(sorted(test.problem.sample_ids))}
    expected = [rank[s] / 20 for s in test.problem.sample_ids]  # back in the caller's order
    assert np.allclose(scores[:, 1], expected)


def test_base_rejects_bad_params_and_inputs(planted):
    val, test = planted
    for bad in (0, -1, 2.5, True):
        with pytest.raises(MethodError, match="n_slices"):
            _Half(n_slices=bad).fit(val.problem)
    with pytest.raises(MethodError, match="random_state"):
        _Half(random_state=np.random.RandomState(0)).fit(val.problem)
    with pytest.raises(MethodError, match="Problem"):
        _Half().fit({"labels": [0]})
    other = make_planted(20, n_classes=4, seed=3, split="x").problem
    with pytest.raises(MethodError, match="fitted on 3 classes"):
        _Half().fit(val.problem).predict_proba(other)


def test_too_many_columns_is_a_method_bug(planted):
    val, test = planted
    with pytest.raises(MethodError, match="expected"):
        _Half(n_slices=1).fit(val.problem).predict_proba(test.problem)


def test_seeds_depend_on_random_state_and_purpose():
    a, b = _Half(random_state=1), _Half(random_state=2)
    assert a._seed("x") == _Half(random_state=1)._seed("x") != b._seed("x")
    assert a._seed("x") != a._seed("y") and _Half(random_state=None)._seed("x") == _Half()._seed("x")


def test_random_state_changes_random_but_not_deterministic_methods(planted):
    val, test = planted
    r0 = run_method("random", {"random_state": 0}, val.problem, test.problem)
    r1 = run_method("random", {"random_state": 1}, val.problem, test.problem)
    assert not np.array_equal(r0, r1)
    c0 = run_method("confusion", {"random_state": 0}, val.problem, test.problem)
    assert np.array_equal(c0, run_method("confusion", {"random_state": 1}, val.problem, test.problem))


def test_oracle_reads_truth_by_sample_id_from_dict_or_series(planted):
    val, test = planted
    truth = {**val.truth, **test.truth}
    series = pd.Series(truth)[::-1]  # order of the mapping must not matter
    for t in (truth, series):
        scores = run_method("oracle", {"truth": t, "n_slices": 3}, val.problem, test.problem)
        assert np.array_equal(scores[:, 1], test.strata == 1) and np.all(scores[:, 2] == 0)
        assert np.array_equal(scores[:, 0], test.strata == 0)
    clone(get_method("oracle", truth=series))  # sklearn clone works with a Series param
    with pytest.raises(MethodError, match="needs truth"):
        run_method("oracle", {}, val.problem, test.problem)
    with pytest.raises(MethodError, match="no stratum for 20 sample ids"):
        run_method("oracle", {"truth": val.truth}, val.problem, test.problem)


def test_run_method_returns_test_rows_in_test_order(planted):
    val, test = planted
    scores = run_method("error_set_ref", {"n_slices": 2}, val.problem, test.problem)
    assert np.array_equal(scores[:, 0], ~test.problem.correct)


def test_citation_block_is_required():
    assert citation_block("Text.\n\nCitation:\n    A. B. 2020.\n") == "A. B. 2020."
    with pytest.raises(MethodError):
        citation_block("no block")


def test_importing_methods_does_not_import_heavy_libraries():
    code = ("import sys, medstrata.methods as m; m.list_methods(); "
            "print(sorted(k for k in ('umap', 'torch', 'numba') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
