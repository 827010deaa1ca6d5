"""The suite's slice budget: every suite sets it, the runner enforces it, methods cannot dodge it."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from medstrata.runner.app import compose
from medstrata.runner.jobs import _discover
from medstrata.runner.runner import slice_budget
from medstrata.runner.suite import CONF_DIR
from medstrata.errors import SpecError
from medstrata.methods import SliceDiscoveryMethod
from medstrata.methods.checks import make_check_data


class WideMethod(SliceDiscoveryMethod):
    """Ignores the budget: always returns 7 columns."""

    citation = "test"

    def _fit(self, problem):
        self.seen_ = problem.n

    def _score(self, problem):
        return np.zeros((problem.n, 1))

    def predict_proba(self, problem):
        return np.full((problem.n, 7), 0.5)


@pytest.mark.parametrize("suite", sorted(p.stem for p in (CONF_DIR / "suite").glob("*.yaml")))
def test_every_suite_sets_a_budget(suite):
    cfg = compose([f"suite={suite}"])
    assert slice_budget(cfg.suite) == 5 and cfg.suite.primary_metric == "ap"


def test_missing_or_bad_budget_is_a_clear_error():
    with pytest.raises(SpecError, match="n_slices"):
        slice_budget(OmegaConf.create({"name": "x"}))
    with pytest.raises(SpecError, match="n_slices"):
        slice_budget(OmegaConf.create({"name": "x", "n_slices": 0}))


def test_a_method_returning_another_number_of_columns_is_an_error(monkeypatch):
    from medstrata.methods import registry
    from medstrata.methods.base import MethodError

    monkeypatch.setitem(registry.REGISTRY.builtins, "wide", WideMethod)
    data = make_check_data()
    with pytest.raises(MethodError, match=r"returned shape \(\d+, 7\), expected \(\d+, 5\)"):
        _discover(WideMethod, {"name": "wide", "params": {}}, None, data.val, data.test, 5, 0)
