"""Trust nothing on disk, and share a home safely: tamper tests, a concurrency test and stale temps.

``medstrata run`` end to end on the smoke suite with the tiny synthetic source (one seed, four
methods; every step is the real code). Each tampered artifact (task bytes, model outputs, result
JSON truncated or edited) must be reported by path, recomputed, and the run's numbers must equal a
clean run's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from medstrata.cli import main
from tests.conftest import synthetic_home, synthetic_source

pytestmark = pytest.mark.slow  # a few end-to-end runs: ~1 min of CPU in all

ARGS = ["run", "suite=smoke", "seed=0", "method=random,confusion,loss_rank,oracle", "progress=false"]


def _synthetic(monkeypatch):
    from medstrata.runner import jobs

    monkeypatch.setattr(jobs, "_source_cached", lambda root, flag, size: synthetic_source(flag, n=(400, 120, 200)))


@pytest.fixture
def synthetic(monkeypatch):
    _synthetic(monkeypatch)


def _run(capsys, args=ARGS) -> tuple[Path, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert rc == 0, err[-3000:]
    assert "Traceback" not in out + err
    return Path(out.strip().splitlines()[-1]), err


def _numbers(folder: Path) -> pd.DataFrame:
    df = pd.read_parquet(folder / "results.parquet").drop(columns=["wall_s"])
    return df.sort_values(["result_id", "stratum_column", "stratum_id"]).reset_index(drop=True)


def _trained(folder: Path) -> tuple[int, int]:
    m = re.search(r"models trained this run: (\d+) of (\d+)", (folder / "summary.md").read_text())
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def clean_home(tmp_path_factory):
    """One clean run, shared by the tests below (each works on its own copy of the home)."""
    home = tmp_path_factory.mktemp("clean_home")
    with synthetic_home(home):
        rc = main(list(ARGS))
    assert rc == 0
    folder = next(p for p in (home / "runs").iterdir() if not p.name.startswith("."))
    assert _trained(folder) == (1, 1)
    return home, folder.name, _numbers(folder)


@pytest.fixture
def clean(clean_home, synthetic, tmp_path, monkeypatch):
    """(run folder, its numbers, home): a private copy of the clean home."""
    import shutil

    source, name, numbers = clean_home
    home = tmp_path / "home"
    shutil.copytree(source, home, symlinks=True)
    monkeypatch.setenv("MEDSTRATA_HOME", str(home))
    return home / "runs" / name, numbers, home


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _only(pattern: str, home: Path) -> Path:
    found = sorted(home.glob(pattern))
    assert found, pattern
    return found[0]


def _tamper_task(home):
    path = _only("tasks/*/images.npy", home)
    _flip_byte(path)
    return path.parent, "images.npy does not match"


def _truncate_outputs(home):
    path = _only("cache/models/*/outputs/test.npz", home)
    path.write_bytes(path.read_bytes()[:100])
    return path, "does not match the recorded"


def _truncate_result(home):
    path = _only("cache/results/*.json", home)
    path.write_text(path.read_text()[:50])
    return path, "does not match the recorded"


def _edit_result(home):
    """Change one number in place and keep valid JSON (what silently changed a table before)."""
    for path in sorted(home.glob("cache/results/*.json")):
        records = json.loads(path.read_text())
        if records and isinstance(records[0].get("ap"), float):
            records[0]["ap"] = records[0]["ap"] * 0.5
            path.write_text(json.dumps(records))
            return path, "does not match the recorded"
    raise AssertionError("no result with a finite ap")


@pytest.mark.parametrize("tamper", [_tamper_task, _truncate_outputs, _truncate_result, _edit_result],
                         ids=["task_byte_flipped", "outputs_npz_truncated", "result_json_truncated",
                              "result_json_edited"])
def test_tampered_artifact_is_reported_recomputed_and_numbers_equal_a_clean_run(tamper, clean, capsys):
    """A later run that needs the cached artifacts again (its job folders are gone, as for another
    suite that shares the task) finds the tampering."""
    import shutil

    folder, numbers, home = clean
    where, message = tamper(home)
    shutil.rmtree(home / "work")
    again, err = _run(capsys)
    assert again == folder
    assert f"cache: {where}" in err and message in err, err
    pd.testing.assert_frame_equal(_numbers(again), numbers)
    assert _trained(again) == (0, 1)  # task rebuilt byte-identical: the model key and model are reused


@pytest.mark.parametrize("name", ["records.json", "done.json"])
def test_a_tampered_job_folder_is_reported_and_the_job_redone(clean, capsys, name):
    """A job whose records or done marker do not check out is not done: it is reported and rerun
    (from the caches), and the numbers equal the clean run's."""
    folder, numbers, home = clean
    path = _only(f"work/*/jobs/*/{name}", home)
    path.write_text(path.read_text().replace("0", "1", 1))
    again, err = _run(capsys)
    assert f"job {path.parent}: {name}" in err and "does not match the recorded" in err, err
    assert "jobs: 0 of 1 already done, 1 to run" in err
    pd.testing.assert_frame_equal(_numbers(again), numbers)


def test_a_clean_rerun_reports_nothing_and_trains_nothing(clean, capsys):
    folder, numbers, _ = clean
    again, err = _run(capsys)
    assert "cache:" not in err and _trained(again) == (0, 1) and "jobs: 1 of 1 already done, 0 to run" in err
    pd.testing.assert_frame_equal(_numbers(again), numbers)


def test_stale_temps_of_killed_writers_are_swept_live_ones_kept(clean, capsys):
    from medstrata import locks

    folder, _, home = clean
    task_id = next((home / "tasks").iterdir()).name
    model_key = next(p for p in (home / "cache/models").iterdir() if not p.name.startswith(".")).name
    stale = [home / "tasks" / f".{task_id}.k1ll3d", home / "cache/models" / f".{model_key}.tmp-k1ll3d",
             home / "runs" / f".{folder.name}.k1ll3d"]
    for path in stale:
        path.mkdir()
        (path / "half.bin").write_bytes(b"x")
    (home / "cache/results" / ".deadbeef.json.k1ll3d.tmp").write_bytes(b"{")
    live = home / "tasks" / ".ffffffffffffffff.live"
    live.mkdir()
    with locks.hold("task-ffffffffffffffff"):  # a writer that is still building that task
        _, err = _run(capsys)
    assert not any(p.exists() for p in stale) and not (home / "cache/results/.deadbeef.json.k1ll3d.tmp").exists()
    assert live.is_dir() and "removed stale temp" in err


def test_a_failed_republish_keeps_the_old_folder_and_leaves_no_temp(clean, capsys, monkeypatch):
    from medstrata.runner import report

    folder, numbers, home = clean

    def broken(*a, **k):
        raise OSError(28, "No space left on device", str(home / "runs"))

    monkeypatch.setattr(report, "write_markdown", broken)
    assert main(ARGS) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert [p.name for p in (home / "runs").iterdir()] == [folder.name]  # no half-written temp
    pd.testing.assert_frame_equal(_numbers(folder), numbers)


@pytest.mark.slow
def test_two_concurrent_runs_on_one_home_train_each_model_once(tmp_path):
    """Two processes run the same suite on one home at once: each model is trained by exactly one of
    them, and both publish the clean run's numbers."""
    root = Path(__file__).resolve().parents[2]
    args = [sys.executable, "-m", "tests.synthetic_cli", "run", "suite=smoke", "seed=0,1",
            "method=random,confusion,oracle", "progress=false"]

    def start(home):
        env = dict(os.environ, MEDSTRATA_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        return subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    clean = start(tmp_path / "clean")
    out, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err[-3000:]
    clean_folder = Path(out.strip().splitlines()[-1])
    shared = tmp_path / "shared"
    procs = [start(shared), start(shared)]
    folders, trained = [], 0
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and "Traceback" not in err, err[-3000:]
        folders.append(Path(out.strip().splitlines()[-1]))
        trained += int(re.search(r"reference models: (\d+) trained by this run", err).group(1))
    assert trained == 2  # two models (seeds 0 and 1), each trained by exactly one of the two runs
    assert folders[0] == folders[1] and folders[0].is_dir()
    models = [p for p in (shared / "cache/models").iterdir() if not p.name.startswith(".")]
    assert len(models) == 2
    pd.testing.assert_frame_equal(_numbers(folders[0]), _numbers(clean_folder))


def test_clean_run_matches_the_golden_pin(clean_home):
    """The synthetic smoke run's numbers are pinned (tests/golden/synthetic_smoke.json); to move
    them on purpose, rerun with MEDSTRATA_UPDATE_GOLDEN=1 and commit the new pin."""
    from tests.pins import compare

    home, name, _ = clean_home
    assert compare(home / "runs" / name, "synthetic_smoke") == []


def test_ctrl_c_during_a_run_exits_130_and_publishes_nothing(tmp_path):
    """SIGINT in the middle of a run (whatever library is running at that moment) ends the process
    with exit code 130, no traceback and no run folder; a rerun resumes from the caches."""
    import signal
    import time

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, MEDSTRATA_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "tests.synthetic_cli", *ARGS], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "home" / "locks").exists():
        time.sleep(0.2)  # the run has started working (it takes its first lock)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    runs = tmp_path / "home" / "runs"
    assert not runs.exists() or not any(p for p in runs.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("forget", [False, True])
def test_an_interrupt_caught_inside_a_string_exec_still_exits_with_our_status(tmp_path, forget):
    """CPython marks a KeyboardInterrupt raised inside ``exec(<string>)`` as unhandled even when it is
    caught, and ``python -m`` then dies of SIGINT (-2) instead of exiting 130. ``main`` clears the
    flag (``_forget_unhandled_interrupt``); without it the same module dies of the signal."""
    mod = tmp_path / "kbi_probe.py"
    mod.write_text(
        "import sys\n"
        "from medstrata.cli import _forget_unhandled_interrupt\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt', {})\n"
        "except KeyboardInterrupt:\n"
        f"    if {forget}:\n"
        "        _forget_unhandled_interrupt()\n"
        "    sys.exit(130)\n")
    proc = subprocess.run([sys.executable, "-m", "kbi_probe"], cwd=tmp_path, capture_output=True)
    assert proc.returncode == (130 if forget else -2), proc.stderr
