"""Shared fixture code of the leaderboard tests: one synthetic smoke run (2 seeds, 5 methods) with
its board registered, and helpers to make submission documents from it."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medstrata.cli import main

METHODS = ("random", "confusion", "loss_rank", "kmeans", "oracle")
RUN_ARGS = ["run", "suite=smoke", "seeds=[0,1]", f"method={','.join(METHODS)}", "progress=false"]


def synthetic(monkeypatch) -> None:
    from medstrata.runner import jobs
    from tests.synthetic_cli import SIZES, synthetic_source

    monkeypatch.setattr(jobs, "_source_cached", lambda root, flag, size: synthetic_source(flag, n=SIZES))


def make_board_home(tmp_path_factory) -> tuple[Path, Path]:
    """``(home, run folder)``: a synthetic smoke run and its board in ``home``'s leaderboard DB."""
    home = tmp_path_factory.mktemp("lb_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSTRATA_HOME", str(home))
        mp.setenv("MEDSTRATA_OFFLINE", "1")
        mp.delenv("MEDSTRATA_LEADERBOARD_DB", raising=False)
        synthetic(mp)
        assert main(list(RUN_ARGS)) == 0
        run = next(p for p in (home / "runs").iterdir() if not p.name.startswith("."))
        assert main(["leaderboard", "init", "--run", str(run)]) == 0
    return home, run


def copy_home(source: Path, dest: Path, monkeypatch) -> Path:
    """A private copy of a board home, made current (env) for the test."""
    shutil.copytree(source, dest, symlinks=True)
    monkeypatch.setenv("MEDSTRATA_HOME", str(dest))
    monkeypatch.setenv("MEDSTRATA_OFFLINE", "1")
    monkeypatch.delenv("MEDSTRATA_LEADERBOARD_DB", raising=False)
    synthetic(monkeypatch)
    return dest


def export_doc(run: Path, method: str) -> dict:
    """The submission document of ``method`` exported from ``run`` (current board)."""
    from medstrata.leaderboard import store
    from medstrata.leaderboard.export import run_submission

    return run_submission(run, method, store.get_board())


def random_doc(base: dict, name: str, key: str) -> dict:
    """``base`` with other method name and scores uniform from a generator keyed by ``key``."""
    doc = copy.deepcopy(base)
    doc["method"].update(name=name, used_stratum_labels=False, control=False)
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    for entry in doc["tasks"].values():
        entry["scores"] = {s: rng.random(len(row)).tolist() for s, row in entry.pop("scores").items()}
    return doc


def write(doc: dict, path: Path) -> Path:
    path.write_text(json.dumps(doc))
    return path


def run_records(run: Path, method: str) -> pd.DataFrame:
    res = pd.read_parquet(run / "results.parquet")
    return res[res.method == method]
