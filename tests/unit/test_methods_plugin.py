"""An outside package adds a discovery method through the ``medstrata.methods`` entry-point group.

The test writes a tiny package into ``tmp_path`` (pyproject + one module, the example of
``docs/methods.md``), installs it with pip into a private target folder (no network, no
dependencies, no build isolation), puts that folder on ``sys.path`` and shows that the registry
discovers the method, that it runs and passes the conformance checks, and that a broken entry point
in the same package is reported by name without breaking the rest. Everything is undone afterwards.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import numpy as np
import pytest

from medstrata.errors import MedStrataError
from medstrata.methods import (
    PluginLoadError,
    PluginWarning,
    broken_plugins,
    get_method,
    list_methods,
    method_info,
    reload_plugins,
    run_method,
)
from medstrata.methods.checks import make_check_data, run_checks

pytestmark = pytest.mark.slow  # pip-installs a package


PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "medstrata-demo-plugin"
version = "0.0.1"

[project.entry-points."medstrata.methods"]
demo_mean_loss = "medstrata_demo_plugin:MeanLossMethod"
demo_broken = "medstrata_demo_plugin_missing:Nothing"

[tool.setuptools]
py-modules = ["medstrata_demo_plugin"]
"""

MODULE = '''\
"""Demo plug-in. Citation: nobody, "An example." 2025."""
import numpy as np
from medstrata.methods import SliceDiscoveryMethod

class MeanLossMethod(SliceDiscoveryMethod):
    citation = "nobody, 'An example.' 2025"
    def __init__(self, n_slices=50, random_state=0):
        self.n_slices, self.random_state = n_slices, random_state
    def _fit(self, problem):
        self.threshold_ = float(np.mean(problem.losses))
    def _score(self, problem):
        return (problem.losses > self.threshold_).astype(float)[:, None]
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """Build and install the demo package once; returns the install folder (not yet on sys.path)."""
    root = tmp_path_factory.mktemp("demo_plugin")
    (root / "pkg").mkdir()
    (root / "pkg" / "pyproject.toml").write_text(PYPROJECT)
    (root / "pkg" / "medstrata_demo_plugin.py").write_text(MODULE)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
           "--no-build-isolation", "--disable-pip-version-check", "--target", str(root / "site"),
           str(root / "pkg")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return root / "site"


@pytest.fixture
def installed(plugin_site, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_site))  # also invalidates importlib's caches
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reload_plugins()
    yield [w for w in caught if issubclass(w.category, PluginWarning)]
    monkeypatch.undo()
    sys.modules.pop("medstrata_demo_plugin", None)
    importlib.invalidate_caches()
    reload_plugins()
    assert "demo_mean_loss" not in list_methods(), "the plug-in leaked out of its test"


def test_plugin_is_discovered_and_runs(installed):
    assert "demo_mean_loss" in list_methods()
    assert method_info("demo_mean_loss")["plugin"] is True
    assert method_info("demo_mean_loss")["is_oracle"] is False
    data = make_check_data()
    scores = run_method("demo_mean_loss", {"n_slices": 3}, data.val, data.test)
    assert scores.shape == (data.test.n, 3) and np.all(scores[:, 1:] == 0)
    expected = (data.test.losses > data.val.losses.mean()).astype(float)
    assert np.array_equal(scores[:, 0], expected)
    make = lambda **kw: get_method("demo_mean_loss", **{"n_slices": 5, **kw})  # noqa: E731 (as the suite does)
    failures = [r for r in run_checks(make, data) if r[1]]
    assert not failures


def test_plugin_with_a_bigger_default_still_gets_the_suite_budget(installed):
    from medstrata.runner.jobs import _discover
    from medstrata.methods import get_method_class

    data = make_check_data()
    cls = get_method_class("demo_mean_loss")
    assert get_method("demo_mean_loss").n_slices == 50  # its own default: 50 tries at the best match
    scores = _discover(cls, {"name": "demo_mean_loss", "params": {}}, None, data.val, data.test, 5, 0)
    assert scores.shape == (data.test.n, 5)
    with pytest.raises(ValueError, match="set by the suite"):
        _discover(cls, {"name": "demo_mean_loss", "params": {"n_slices": 50}}, None, data.val, data.test, 5, 0)


def test_broken_plugin_is_reported_by_name_and_isolated(installed):
    assert any("demo_broken" in str(w.message) for w in installed)
    assert "demo_broken" not in list_methods() and "random" in list_methods()
    assert "medstrata-demo-plugin" in broken_plugins()["demo_broken"]
    with pytest.raises(PluginLoadError, match="demo_broken.*failed to load.*ModuleNotFoundError"):
        get_method("demo_broken")
    assert isinstance(PluginLoadError("x"), MedStrataError)


def test_without_the_plugin_nothing_is_left(plugin_site):
    reload_plugins()
    assert "demo_mean_loss" not in list_methods() and not broken_plugins()
