"""The job model of a run (:mod:`medstrata.runner.cells`): deterministic job names, the done
marker and its skip logic, engine options, and ``medstrata collect`` from the job folders alone."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from medstrata.cli import main
from medstrata.runner import cells
from medstrata.runner.app import compose, plan, split_engine
from tests.conftest import synthetic_home

NAMES = ("import json; from medstrata.runner.app import compose, plan; from medstrata.runner.cells import job_name; "
         "cfg = compose(['suite=quick']); print(json.dumps([job_name(cfg, j) for j in plan(cfg)]))")


def _names(overrides: list[str]) -> list[str]:
    cfg = compose(overrides)
    return [cells.job_name(cfg, j) for j in plan(cfg)]


def test_job_names_are_the_same_in_any_process_and_unique():
    """The quick suite expands to the same job list and names here and in a fresh interpreter
    with another hash seed; every (task cell, seed) has its own name."""
    here = _names(["suite=quick"])
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", NAMES], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == here
    assert len(here) == len(set(here)) == 12 and all(len(n) == 16 for n in here)


def test_job_names_follow_the_inputs_not_the_presentation():
    base = _names(["suite=smoke"])
    assert _names(["suite=smoke", "progress=false"]) == base  # how it is shown is not an input
    assert _names(["suite=smoke", "seeds=[0]"]) == base[:1]  # a cell's name does not depend on the others
    assert set(_names(["suite=smoke", "suite.n_slices=4"])).isdisjoint(base)
    assert set(_names(["suite=smoke", "methods=[random]"])).isdisjoint(base)
    assert set(_names(["suite=smoke", "++suite.model.epochs=3"])).isdisjoint(base)


def test_engine_options_never_reach_the_config_or_the_run_name():
    rest, engine = split_engine(["suite=smoke", "engine=joblib", "workers=2", "bundles=3", "launcher.partition=gpu"])
    assert rest == ["suite=smoke"]
    assert engine == {"engine": "joblib", "workers": 2, "bundles": 3, "launcher": {"partition": "gpu"}}
    from medstrata.errors import SpecError

    for bad in ("workers=0", "workers=two", "bundles=-1"):
        with pytest.raises(SpecError, match="positive integer"):
            split_engine([bad])


def test_launcher_commands(tmp_path, monkeypatch):
    from medstrata.runner.engines import launcher_command

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.delenv("MEDSTRATA_THREADS", raising=False)
    monkeypatch.setenv("MEDSTRATA_HOME", "/h o'me")
    job = launcher_command(tmp_path, "joblib", 12, {"workers": 2}, "tok")
    assert "hydra/launcher=joblib" in job and "hydra.launcher.n_jobs=2" in job and "bundle=range(0,12)" in job
    assert "threads=4" in job and "+env.MEDSTRATA_HOME='/h o\\'me'" in job
    slurm = launcher_command(tmp_path, "slurm", 12, {"workers": 3, "launcher": {"partition": "gpu"}}, "tok")
    assert "hydra/launcher=medstrata_slurm" in slurm and "bundle=range(0,3)" in slurm  # 3 array tasks of 4 cells
    assert "hydra.launcher.array_parallelism=3" in slurm and "hydra.launcher.partition=gpu" in slurm
    assert "threads=0" in slurm and not any("cpus_per_task" in a for a in slurm)  # the node's SLURM_CPUS_PER_TASK
    monkeypatch.setenv("MEDSTRATA_THREADS", "1")
    ray = launcher_command(tmp_path, "ray", 5, {"workers": 2, "launcher": {"ray.init.address": "127.0.0.1:1"}}, "t")
    assert "threads=1" in ray and ray.count("hydra.launcher.ray.init.address=127.0.0.1:1") == 1
    assert "+hydra.launcher.ray.init.object_store_memory=null" in ray


def test_the_slurm_example_config_composes():
    """``conf/hydra/launcher/medstrata_slurm.yaml`` extends submitit's SLURM launcher."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the cluster extra (hydra-submitit-launcher)")
    from hydra import compose as hcompose, initialize_config_dir

    from medstrata.runner.suite import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hcompose("worker", overrides=["work=/w", "hydra/launcher=medstrata_slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.array_parallelism) == ("cpu", 240, 32)


def _fake_out(name: str, trained: bool = True) -> dict:
    return {"job": {"name": name}, "model": {"trained": trained}, "results": [], "reference": [], "measures": [],
            "mitigation_refs": [], "mitigation_rows": [], "wall_s": 1.5}


def test_done_marker_is_written_last_and_checked(tmp_path, monkeypatch):
    from medstrata import integrity

    folder = tmp_path / "jobs" / "a"
    real = integrity.write_verified

    def killed_before_done(path, data):
        if Path(path).name == cells.DONE:
            raise KeyboardInterrupt  # the worker dies between its records and its marker
        real(path, data)

    monkeypatch.setattr(integrity, "write_verified", killed_before_done)
    with pytest.raises(KeyboardInterrupt):
        cells._publish(folder, _fake_out("a"), "t")
    assert (folder / cells.RECORDS).is_file() and cells.not_done(folder) == "missing"
    monkeypatch.setattr(integrity, "write_verified", real)
    cells._publish(folder, _fake_out("a"), "t")
    assert cells.is_done(folder) and cells.read_records(folder)["done"]["by"] == "t"
    (folder / cells.RECORDS).write_text((folder / cells.RECORDS).read_text().replace("1.5", "2.5"))
    assert "does not match the recorded" in cells.not_done(folder)
    assert not list(folder.glob(".*"))  # no temp file left beside them


def test_ensure_cell_skips_done_jobs_and_runs_the_others(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(cells, "run_cell", lambda cfg, job: ran.append(job["name"]) or _fake_out(job["name"]))
    cells._publish(cells.job_dir(tmp_path, "a"), _fake_out("a"), "old")
    assert cells.ensure_cell(tmp_path, None, {"name": "a"}) is False
    assert cells.ensure_cell(tmp_path, None, {"name": "b"}, "new") is True
    assert cells.ensure_cell(tmp_path, None, {"name": "b"}, "new") is False
    assert ran == ["b"]


def test_a_changed_plan_is_replaced_and_says_so(tmp_path, capsys):
    cells.write_plan(tmp_path, "run", {"x": 1}, [{"name": "a"}])
    before = (tmp_path / cells.PLAN).stat().st_mtime_ns
    cells.write_plan(tmp_path, "run", {"x": 1}, [{"name": "a"}])  # the same plan again: not rewritten
    assert (tmp_path / cells.PLAN).stat().st_mtime_ns == before and capsys.readouterr().err == ""
    cells.write_plan(tmp_path, "run", {"x": 1}, [{"name": "b"}])
    assert "the run's jobs changed" in capsys.readouterr().err
    assert [j["name"] for j in cells.read_plan(tmp_path)["jobs"]] == ["b"]


ARGS = ["run", "suite=smoke", "seed=0,1", "method=random,confusion,oracle", "progress=false"]


@pytest.mark.slow
def test_collect_from_the_job_folders_alone(tmp_path, capsys):
    """After a run, every cache and the run folder are removed: ``medstrata collect <work>`` writes
    the same tables from the job folders alone; with a job folder missing it names the job."""
    home = tmp_path / "home"
    with synthetic_home(home):
        assert main(list(ARGS)) == 0
        folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
        keep = tmp_path / "first"
        shutil.copytree(folder, keep)
        for sub in ("runs", "cache", "tasks"):
            shutil.rmtree(home / sub)
        work = next((home / "work").iterdir())
        assert main(["collect", str(work)]) == 0
        again = Path(capsys.readouterr().out.strip().splitlines()[-1])
        assert again == folder
        for name in ("results.parquet", "reference.parquet", "mitigation.parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(again / name), pd.read_parquet(keep / name))
        # the records' key order survives the job folder: the columns keep the runner's order
        assert list(pd.read_parquet(again / "results.parquet").columns[:4]) == ["task_id", "dataset", "target",
                                                                                 "task_strata"]
        assert (again / "validity.json").read_text() == (keep / "validity.json").read_text()
        assert sorted(p.name for p in (again / "slices").iterdir()) == sorted(p.name for p in (keep / "slices").iterdir())
        gone = sorted((work / "jobs").iterdir())[0]
        shutil.rmtree(gone)
        assert main(["collect", str(work)]) == 2
        assert f"1 of 2 jobs of {work} are not done ({gone.name})" in capsys.readouterr().err


def test_job_names_follow_the_code_versions_the_records_depend_on(monkeypatch):
    """A new mitigation strategy version (or erm's, the builder's, the model trainer's) renames every
    cell job, so a rerun on an old work folder recomputes instead of reusing stale records."""
    from medstrata import mitigation
    import medstrata
    import medstrata.models.cache as model_cache

    base = _names(["suite=smoke"])
    for target, attr in ((mitigation.get_strategy_class("group_dro"), "version"),
                         (mitigation.get_strategy_class("erm"), "version"),
                         (medstrata, "BUILDER_VERSION"), (model_cache, "CODE_VERSION")):
        with monkeypatch.context() as m:
            m.setattr(target, attr, "changed")
            assert set(_names(["suite=smoke"])).isdisjoint(base), (target, attr)
    assert _names(["suite=smoke"]) == base
