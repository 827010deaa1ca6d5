"""Engines and resume, end to end in subprocesses: a run killed with SIGKILL resumes without redoing
a finished job, and the joblib, submitit-local and Ray engines give the plain run's tables.

The smoke suite (two seeds, three methods, mitigation) runs on the tiny synthetic source of
``tests.synthetic_cli`` (its workers get it through ``MEDSTRATA_WORKER_INIT``), so these tests need
no data; ``test_joblib_on_the_real_smoke_suite`` repeats the joblib comparison on the official files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import real_file

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["run", "suite=smoke", "seed=0,1", "method=random,confusion,oracle", "progress=false"]


def _start(home: Path, args: list[str], synthetic: bool = True, env: dict | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tests.synthetic_cli" if synthetic else "medstrata.cli", *args]
    env = dict(os.environ, MEDSTRATA_HOME=str(home), MEDSTRATA_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: int = 900) -> tuple[Path, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0 and "Traceback" not in err, err[-4000:]
    return Path(out.strip().splitlines()[-1]), err


def _tables(folder: Path) -> dict:
    """Every table of a run folder (wall times dropped), its validity cards and slice files."""
    out = {}
    for name in ("results.parquet", "reference.parquet", "mitigation.parquet"):
        df = pd.read_parquet(folder / name)
        out[name] = df.drop(columns=[c for c in ("wall_s",) if c in df])
    out["validity"] = json.loads((folder / "validity.json").read_text())
    out["slices"] = {p.name: p.read_bytes() for p in sorted((folder / "slices").iterdir())}
    return out


def _assert_same(a: Path, b: Path) -> None:
    assert a.name == b.name  # the same run name: the engine is not part of the run
    ta, tb = _tables(a), _tables(b)
    for name in ("results.parquet", "reference.parquet", "mitigation.parquet"):
        pd.testing.assert_frame_equal(ta[name], tb[name])
    assert ta["validity"] == tb["validity"] and ta["slices"] == tb["slices"]


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The plain sequential run (engine inline) in its own home."""
    folder, _ = _finish(_start(tmp_path_factory.mktemp("plain"), ARGS))
    return folder


def _done_markers(home: Path) -> dict[str, tuple[int, str]]:
    return {p.parent.name: (p.stat().st_mtime_ns, p.read_text()) for p in home.glob("work/*/jobs/*/done.json")}


def test_sigkill_then_rerun_redoes_no_finished_job_and_equals_the_plain_run(plain, tmp_path):
    """SIGKILL once the first job is done (the second is running), rerun: the finished job is
    skipped (its marker untouched), the other is redone, and the tables equal the plain run's."""
    home = tmp_path / "home"
    proc = _start(home, ARGS)
    deadline = time.time() + 600
    while time.time() < deadline and not _done_markers(home) and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    before = _done_markers(home)
    assert len(before) == 1, "the run finished or died before the kill; nothing to resume"
    assert not (home / "runs").exists() or not any(p for p in (home / "runs").iterdir() if not p.name.startswith("."))
    folder, err = _finish(_start(home, ARGS))
    assert "jobs: 1 of 2 already done, 1 to run" in err, err
    after = _done_markers(home)
    assert all(after[name] == before[name] for name in before)  # not recomputed, not rewritten
    _assert_same(folder, plain)


def test_sigkill_at_a_random_time_then_rerun_equals_the_plain_run(plain, tmp_path):
    """SIGKILL at a random moment (whatever is being written then), rerun: it finishes, leaves
    every done marker of before untouched and gives the plain run's tables."""
    import random

    delay = random.uniform(1.0, 12.0)
    print(f"killing after {delay:.2f} s")
    home = tmp_path / "home"
    proc = _start(home, ARGS)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    before = _done_markers(home)
    folder, err = _finish(_start(home, ARGS))
    assert f"jobs: {len(before)} of 2 already done" in err, (delay, err)
    after = _done_markers(home)
    assert all(after[name] == before[name] for name in before)
    _assert_same(folder, plain)


@pytest.mark.parametrize("engine", ["joblib", "submitit_local"])
def test_local_engines_equal_the_plain_run(plain, tmp_path, engine):
    pytest.importorskip({"joblib": "hydra_plugins.hydra_joblib_launcher",
                         "submitit_local": "hydra_plugins.hydra_submitit_launcher"}[engine],
                        reason=f"engine {engine} needs the cluster extra: pip install -e '.[cluster]'")
    home = tmp_path / "home"
    folder, err = _finish(_start(home, [*ARGS, f"engine={engine}", "workers=2"]))
    assert f"hydra/launcher={engine}" in err and "reference models: 2 trained by this run" in err
    _assert_same(folder, plain)
    assert len(list(home.glob("work/*/launcher/[01]"))) == 2  # two Hydra jobs ran
    _, err = _finish(_start(home, [*ARGS, f"engine={engine}", "workers=2"]))
    assert "jobs: 2 of 2 already done, 0 to run" in err and "launching" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_cluster(tmp_path):
    """A local Ray head on loopback (2 CPUs) started with a bare environment, so its workers
    inherit nothing from this process; stopped afterwards."""
    pytest.importorskip("ray", reason="engine ray needs the ray extra: pip install -e '.[ray]'")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="engine ray needs hydra-ray-launcher (extra ray)")
    ray = str(Path(sys.executable).with_name("ray"))
    port, temp = _free_port(), Path("/tmp") / f"ray{os.getpid()}"  # Ray's socket paths must stay short
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                   env=env, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_ray_engine_equals_the_plain_run(plain, tmp_path, ray_cluster):
    folder, err = _finish(_start(tmp_path / "home", [*ARGS, "engine=ray", "workers=2"],
                                 env={"RAY_ADDRESS": ray_cluster}))
    assert "hydra/launcher=ray" in err and "Connected to Ray cluster" in err
    _assert_same(folder, plain)


@pytest.mark.realdata
def test_joblib_on_the_real_smoke_suite(tmp_path):
    """The official pneumoniamnist file: two seeds, three methods, mitigation; joblib with two
    workers against the plain run (each in its own cold home)."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="needs the cluster extra")
    real_file("pneumoniamnist")
    a, _ = _finish(_start(tmp_path / "plain", ARGS, synthetic=False), timeout=1800)
    b, _ = _finish(_start(tmp_path / "joblib", [*ARGS, "engine=joblib", "workers=2"], synthetic=False), timeout=1800)
    _assert_same(a, b)
