"""Submission documents: ``medstrata export-submission`` (from a run folder) and code submissions.

A run folder keeps every method result's test slice scores under ``slices/<result id>.npz``
(see :func:`medstrata.runner.jobs.slices_bytes`); the export reads those and the run's
``results.parquet`` and writes a format-1 submission (see :mod:`.schema`) for one method.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from medstrata import paths
from medstrata.errors import SpecError
from medstrata.leaderboard.board import Board
from medstrata.runner import jobs as J


def method_meta(method: str, embedding: str, authors: list[str] | None = None, version: str | None = None,
                code_url: str | None = None, paper_url: str | None = None, description: str = "") -> dict:
    """The ``method`` block of a registered method: its class version and roles, plus what is given."""
    from medstrata.methods import get_method_class, method_package

    cls = get_method_class(method)
    package, package_version = method_package(method)
    return {"name": method, "version": str(version or cls.version), "authors": list(authors or [f"{package} authors"]),
            "code_url": code_url, "paper_url": paper_url, "embedding": embedding,
            "used_stratum_labels": bool(cls.is_oracle), "control": bool(cls.is_control),
            "description": description or f"{method} from {package} {package_version}"}


def task_entry(board_task: dict, sample_ids: np.ndarray, outputs: dict[str, np.ndarray], random_state: int) -> dict:
    """One ``tasks`` entry: ``scores`` when every stratum column got the same scores (any method but
    the oracle), else ``scores_by_column``. Floats are written exactly (JSON repr round-trips)."""
    ids = [str(s) for s in sample_ids.tolist()]
    arrays = list(outputs.values())
    k = int(arrays[0].shape[1])
    entry = {"seed": int(board_task["seed"]), "model_id": board_task["model_id"], "random_state": int(random_state),
             "n_slices": k}
    as_rows = lambda a: dict(zip(ids, np.asarray(a, dtype=np.float64).tolist()))  # noqa: E731
    if all(np.array_equal(a, arrays[0]) for a in arrays[1:]):
        entry["scores"] = as_rows(arrays[0])
    else:
        entry["scores_by_column"] = {col: as_rows(a) for col, a in outputs.items()}
    return entry


def run_submission(run_folder: Path, method: str, board: Board, **meta) -> dict:
    """The submission document of ``method``'s results in a run folder, for ``board``."""
    from medstrata.leaderboard.submit import header

    run_folder = Path(run_folder)
    path = run_folder / "results.parquet"
    if not path.is_file():
        raise SpecError(f"{run_folder} is not a run folder (no results.parquet)")
    res = pd.read_parquet(path, columns=["task_id", "seed", "model_id", "method", "random_state", "result_id"])
    mine = res[(res.method == method) & (res.random_state == res.seed)].drop_duplicates("task_id").set_index("task_id")
    if mine.empty:
        raise SpecError(f"run {run_folder.name} has no results of method {method!r}; its methods: "
                        f"{', '.join(sorted(res.method.unique()))}")
    tasks = {}
    for t in board.tasks:
        if t["task_id"] not in mine.index:
            raise SpecError(f"run {run_folder.name} has no result of {method} on board task {t['task_id']} "
                            f"({t['dataset']}, seed {t['seed']}): export from a run of board {board.name}'s suite")
        row = mine.loc[t["task_id"]]
        sample_ids, outputs = J.load_slices(run_folder / "slices" / f"{row.result_id}.npz")
        tasks[t["task_id"]] = task_entry(t, sample_ids, outputs, int(row.random_state))
    return {**header(board.name, board.board_id, method_meta(method, board.embedding, **meta)), "tasks": tasks}


def code_submission(method: str, board: Board, **meta) -> dict:
    """Run a registered method on every board cell (fit on val, predict on test, the board's slice
    budget, ``random_state = seed``) and return its submission document."""
    from medstrata.leaderboard.scorer import cell
    from medstrata.leaderboard.submit import header
    from medstrata.methods import get_method_class

    cls = get_method_class(method)
    tasks = {}
    for t in board.tasks:
        task, model, _test = cell(t, board.embedding)
        if cls.needs_identification_model:
            model.update(J.identification_job(task.task_id, t["model_spec"], t["seed"]))
        records = J.method_job(task.task_id, model, {"name": method, "params": {}}, t["seed"], board.embedding,
                               n_slices=board.n_slices, random_state=t["seed"])
        cached = paths.cache_dir() / "results" / f"{records[0]['result_id']}.json"
        sample_ids, outputs = J.load_slices(J.slices_path(cached))
        tasks[t["task_id"]] = task_entry(t, sample_ids, outputs, t["seed"])
    return {**header(board.name, board.board_id, method_meta(method, board.embedding, **meta)), "tasks": tasks}


def write_submission(doc: dict, out: Path) -> Path:
    """Write a submission document as compact JSON (exact floats); returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n")
    return out
