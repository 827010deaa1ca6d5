"""Result cache keys see the code: a plug-in's distribution version and the method parameters.

The plug-in of ``test_methods_plugin`` is installed twice, as version 0.0.1 and 0.0.2 (same
code), into two private folders (laid out as installed distributions with ``.dist-info``
metadata, which is what the entry-point machinery reads). ``jobs.method_job`` is run against a temporary
``MEDSTRATA_HOME`` with the expensive fit-and-score step replaced by a counter: a rerun at the same
version reads the cache, a version bump computes again.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import numpy as np
import pytest

from medstrata.runner import jobs as J
from medstrata.methods import method_package, reload_plugins
from tests.unit.test_methods_plugin import MODULE


def _install(root, version):
    """Lay out an installed distribution by hand (module + ``.dist-info`` with METADATA and
    entry_points.txt), as pip would; no build backend needed."""
    site = root / f"site{version}"
    (site / f"medstrata_demo_plugin-{version}.dist-info").mkdir(parents=True)
    (site / "medstrata_demo_plugin.py").write_text(MODULE)
    info = site / f"medstrata_demo_plugin-{version}.dist-info"
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: medstrata-demo-plugin\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(
        "[medstrata.methods]\ndemo_mean_loss = medstrata_demo_plugin:MeanLossMethod\n")
    return site


@pytest.fixture
def use_site(monkeypatch):
    added = []

    def use(site):
        for old in added:
            if old in sys.path:
                sys.path.remove(old)
        sys.path.insert(0, str(site))
        added.append(str(site))
        sys.modules.pop("medstrata_demo_plugin", None)
        importlib.invalidate_caches()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reload_plugins()

    yield use
    for old in added:
        if old in sys.path:
            sys.path.remove(old)
    sys.modules.pop("medstrata_demo_plugin", None)
    importlib.invalidate_caches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reload_plugins()


def test_plugin_version_bump_recomputes(tmp_path, monkeypatch, use_site):
    monkeypatch.setenv("MEDSTRATA_HOME", str(tmp_path / "home"))
    calls = []

    def fake_run(task_id, model, method, cls, seed, embedding, n_slices, state, rename=None):
        calls.append(method_package(method["name"]))
        return [{"method": method["name"], "ap": 0.5}], np.array(["s-0"]), {"stratum_x": np.zeros((1, 1))}

    monkeypatch.setattr(J, "_run_and_score", fake_run)
    v1, v2 = _install(tmp_path, "0.0.1"), _install(tmp_path, "0.0.2")
    model, method = {"model_id": "m" * 16}, {"name": "demo_mean_loss", "params": {}}

    use_site(v1)
    assert method_package("demo_mean_loss") == ("medstrata-demo-plugin", "0.0.1")
    first = J.method_job("t" * 64, model, method, 0, "penultimate", n_slices=5)
    again = J.method_job("t" * 64, model, method, 0, "penultimate", n_slices=5)
    assert len(calls) == 1 and again == first  # same version: read from the cache

    use_site(v2)
    assert method_package("demo_mean_loss") == ("medstrata-demo-plugin", "0.0.2")
    bumped = J.method_job("t" * 64, model, method, 0, "penultimate", n_slices=5)
    assert len(calls) == 2 and calls[-1] == ("medstrata-demo-plugin", "0.0.2")
    assert bumped[0]["result_id"] != first[0]["result_id"]


def test_result_key_sees_params_and_builtin_package():
    model = {"model_id": "m" * 16}
    base = J.result_key("t" * 64, model, {"name": "kmeans", "params": {}}, 0, "penultimate", 5, 0)
    other = J.result_key("t" * 64, model, {"name": "kmeans", "params": {"n_clusters": 3}}, 0, "penultimate", 5, 0)
    assert base != other
    assert method_package("kmeans")[0] == "medstrata"
