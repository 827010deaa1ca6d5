"""File locks (:mod:`medstrata.locks`): re-entrant in a process, exclusive across processes, and
the stale-temp sweep that spares a live writer."""

from __future__ import annotations

import os
import subprocess
import sys

from medstrata import locks


def test_locks_are_reentrant_and_exclusive_across_processes(tmp_path):
    from medstrata import locks

    with locks.hold("model-abc"):
        with locks.hold("model-abc"):  # re-entrant in one process
            assert not locks.is_free("model-abc")
        code = ("import sys; from medstrata import locks; "
                "sys.exit(0 if not locks.is_free('model-abc') else 3)")
        assert subprocess.run([sys.executable, "-c", code], env=dict(os.environ)).returncode == 0
    assert locks.is_free("model-abc")


def test_sweep_removes_only_temps_whose_lock_is_free(tmp_path):
    (tmp_path / ".aaaa.x1").mkdir()
    (tmp_path / ".bbbb.x2").mkdir()
    (tmp_path / ".cccc.json.x3.tmp").write_text("{")
    (tmp_path / "aaaa").mkdir()  # a finished entry: never touched
    with locks.hold("task-bbbb"):
        removed = locks.sweep(tmp_path, "task")
    assert sorted(p.name for p in removed) == [".aaaa.x1", ".cccc.json.x3.tmp"]
    assert (tmp_path / ".bbbb.x2").is_dir() and (tmp_path / "aaaa").is_dir()
