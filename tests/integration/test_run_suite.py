"""``medstrata run suite=smoke`` end to end in subprocesses (real data): outputs, controls, cache reuse,
and an outside plug-in method installed through the entry point, with no edit to MedStrata."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.conftest import real_file
from tests.unit.test_methods_plugin import MODULE, PYPROJECT

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _run(args, home, extra_env=None, timeout=900):
    env = dict(os.environ, MEDSTRATA_HOME=str(home), **(extra_env or {}))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "medstrata.cli", "run", *args], capture_output=True, text=True,
                         env=env, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out, time.perf_counter() - t0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    real_file("pneumoniamnist")
    home = tmp_path_factory.mktemp("smoke_home")
    out, seconds = _run(["suite=smoke"], home)
    folder = out.stdout.strip().splitlines()[-1]
    print(f"smoke cold: {seconds:.1f} s")
    return home, folder, out.stdout, seconds


def test_outputs_and_flat_ids(smoke):
    _, folder, stdout, _ = smoke
    for name in ("results.parquet", "results.csv", "reference.parquet", "summary.md", "recovery_p_at_10.png"):
        assert os.path.isfile(os.path.join(folder, name)), name
    df = pd.read_parquet(os.path.join(folder, "results.parquet"))
    for col in ("task_id", "model_id", "method", "method_version", "seed", "medstrata_version", "wall_s", "run_id"):
        assert df[col].notna().all(), col
    assert set(df.seed) == {0, 1, 2} and df.method.nunique() >= 10
    assert "oracle (ORACLE)" in stdout and "rank" in stdout
    assert (df.n_slices == 5).all() and df.split_agreement.notna().any() and "p_at_10_dcbench" in df


def test_controls(smoke):
    _, folder, _, _ = smoke
    df = pd.read_parquet(os.path.join(folder, "results.parquet"))
    assert (df[df.method == "oracle"].p_at_10 == 1.0).all()
    rnd = df[df.method == "random"]
    assert abs(rnd.p_at_10.mean() - rnd.prevalence.mean()) < 0.2
    assert abs(rnd.ap.mean() - rnd.prevalence.mean()) < 0.1


def test_rerun_reuses_every_cache(smoke):
    home, folder, _, _ = smoke
    out, seconds = _run(["suite=smoke"], home)
    assert out.stdout.strip().splitlines()[-1] == folder
    summary = open(os.path.join(folder, "summary.md")).read()
    assert "models trained this run: 0 of 3" in summary
    print(f"smoke warm: {seconds:.1f} s")


def test_dry_run_lists_jobs(smoke):
    home, _, _, _ = smoke
    out, _ = _run(["suite=smoke", "method=random,oracle", "--dry-run"], home)
    assert "3 jobs, 6 method runs" in out.stdout


def test_outside_plugin_runs_in_a_suite(smoke, tmp_path):
    home, _, _, _ = smoke
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "pkg" / "medstrata_demo_plugin.py").write_text(MODULE)
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
           "--disable-pip-version-check", "--target", str(tmp_path / "site"), str(tmp_path / "pkg")]
    assert subprocess.run(pip, capture_output=True, text=True, timeout=120).returncode == 0
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")])}
    out, _ = _run(["suite=smoke", "method=demo_mean_loss,oracle"], home, env)
    df = pd.read_parquet(os.path.join(out.stdout.strip().splitlines()[-1], "results.parquet"))
    assert set(df.method) == {"demo_mean_loss", "oracle"} and df[df.method == "demo_mean_loss"].ap.notna().all()
    assert (df.n_slices == 5).all()  # the plug-in's own default is 50; the suite's budget wins


def test_method_parameter_from_the_command_line_enters_the_result_id(smoke):
    home, _, _, _ = smoke
    out_default, _ = _run(["suite=smoke", "method=kmeans"], home)
    out_param, _ = _run(["suite=smoke", "method=kmeans", "method_params.kmeans.n_clusters=3"], home)
    folders = [o.stdout.strip().splitlines()[-1] for o in (out_default, out_param)]
    assert folders[0] != folders[1]  # the run id sees the resolved methods and their params
    default, param = (pd.read_parquet(os.path.join(f, "results.parquet")) for f in folders)
    assert (param.method_params == '{"n_clusters": 3}').all() and (default.method_params == "{}").all()
    assert not set(default.result_id) & set(param.result_id)


def test_smoke_matches_the_golden_pin(smoke):
    """The real smoke suite's numbers (every method, seed and stratum; reference models) are pinned
    in tests/golden/smoke.json. A change that moves one must update the pin on purpose:
    MEDSTRATA_UPDATE_GOLDEN=1 python -m pytest tests/integration/test_run_suite.py -k golden."""
    from pathlib import Path

    from tests.pins import compare

    _, folder, _, _ = smoke
    problems = compare(Path(folder), "smoke")
    assert problems == [], "\n".join(problems[:20])
