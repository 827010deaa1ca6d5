"""End-to-end CLI checks in separate processes: determinism, verify, corruption (real data)."""

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import real_file

pytestmark = pytest.mark.realdata


def _cli(args, env_extra=None, home=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    if home is not None:
        env["MEDSTRATA_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "medstrata.cli", *args], capture_output=True, text=True, env=env)


def test_build_is_deterministic_across_processes_and_verify_passes(tmp_path):
    real_file("bloodmnist")
    args = ["build", "dataset=bloodmnist", "stratum=rare_subclass", "seed=0"]
    a = _cli(args, {"PYTHONHASHSEED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}, tmp_path / "a")
    b = _cli(args, {"PYTHONHASHSEED": "987", "OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}, tmp_path / "b")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    id_a, id_b = a.stdout.strip().splitlines()[-1], b.stdout.strip().splitlines()[-1]
    assert id_a == id_b and len(id_a) == 16
    for name in ("manifest.parquet", "images.npy", "task.json"):
        da = hashlib.sha256((tmp_path / "a/tasks" / id_a / name).read_bytes()).hexdigest()
        db = hashlib.sha256((tmp_path / "b/tasks" / id_b / name).read_bytes()).hexdigest()
        assert da == db, f"{name} differs between processes"
    v = _cli(["verify", id_a], home=tmp_path / "a")
    assert v.returncode == 0, v.stdout + v.stderr
    other = _cli(["build", "dataset=bloodmnist", "stratum=rare_subclass", "seed=1"], home=tmp_path / "a")
    param = _cli(args + ["stratum.p=0.1"], home=tmp_path / "a")
    ids = {id_a, other.stdout.strip().splitlines()[-1], param.stdout.strip().splitlines()[-1]}
    assert len(ids) == 3


def test_verify_reports_what_differs(tmp_path):
    real_file("pneumoniamnist")
    out = _cli(["build", "dataset=pneumoniamnist", "stratum=spurious_marker"], home=tmp_path)
    task_id = out.stdout.strip().splitlines()[-1]
    path = tmp_path / "tasks" / task_id / "images.npy"
    arr = np.load(path)
    arr[0, 0, 0] ^= 1
    np.save(path, arr)
    v = _cli(["verify", task_id], home=tmp_path)
    assert v.returncode == 1
    assert "images.npy" in v.stdout and "1 of" in v.stdout


def test_corrupt_copy_is_refused_with_both_checksums(tmp_path):
    src = real_file("pneumoniamnist")
    root = tmp_path / "data"
    root.mkdir()
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0x01
    (root / "pneumoniamnist.npz").write_bytes(bytes(data))
    out = _cli(["build", "dataset=pneumoniamnist", "stratum=label_noise"], {"MEDSTRATA_DATA_ROOT": str(root)}, tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "28209eda62fecd6e6a2d98b1501bb15f" in out.stderr
    assert hashlib.md5(bytes(data)).hexdigest() in out.stderr


def test_missing_file_without_network_gives_manual_download_message(tmp_path):
    out = _cli(["build", "dataset=bloodmnist", "stratum=label_noise"],
               {"MEDSTRATA_DATA_ROOT": str(tmp_path), "MEDSTRATA_OFFLINE": "1"}, tmp_path / "h")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    for needle in ("bloodmnist.npz", "7053d0359d879ad8a5505303e11de1dc", "https://zenodo.org", str(tmp_path)):
        assert needle in out.stderr


def test_help_works():
    out = _cli(["--help"])
    assert out.returncode == 0 and "build" in out.stdout and "verify" in out.stdout
