"""A board: the fixed suite of (task, seed, reference model) cells every submission is scored on.

A board is made once from a published run (``medstrata leaderboard init --run <run folder>``):
the tasks that passed the validity gates in that run, their seeds, the reference model of each
(its content id), the slice budget, the embedding and the model spec. Its ``board_id`` is the
content hash of all of that (not of the scorer version: a new scorer rescoring old submissions
keeps the board). Submissions name the board id; a submission made for other tasks is *stale*.

File (``leaderboard/boards/<name>.json``)::

    {"format": "medstrata-board", "name": "quick", "board_id": "<16 hex>", "n_slices": 5,
     "embedding": "penultimate", "primary_metric": "ap", "source_run": "...",
     "tasks": [{"task_id", "dataset", "kind", "seed", "model_id", "n_test", "spec", "model_spec"}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from medstrata.errors import SpecError
from medstrata.hashing import content_hash

BOARD_FORMAT = "medstrata-board"


@dataclass(frozen=True)
class Board:
    """One board; ``tasks`` is a list of dicts (task_id, dataset, kind, seed, model_id, n_test, spec,
    model_spec)."""

    name: str
    n_slices: int
    embedding: str
    primary_metric: str
    tasks: list = field(default_factory=list)
    source_run: str = ""

    @property
    def board_id(self) -> str:
        """Content hash of the cells, budget, embedding and model spec (16 hex)."""
        return content_hash({"name": self.name, "n_slices": self.n_slices, "embedding": self.embedding,
                             "primary_metric": self.primary_metric,
                             "tasks": [{k: t[k] for k in ("task_id", "seed", "model_id", "n_test", "model_spec")}
                                       for t in self.tasks]})[:16]

    def task(self, task_id: str) -> dict:
        return {t["task_id"]: t for t in self.tasks}[task_id]

    def to_json(self) -> str:
        body = {"format": BOARD_FORMAT, "name": self.name, "board_id": self.board_id, "n_slices": self.n_slices,
                "embedding": self.embedding,
                "primary_metric": self.primary_metric, "source_run": self.source_run, "tasks": self.tasks}
        return json.dumps(body, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Board":
        d = json.loads(text)
        if d.get("format") != BOARD_FORMAT:
            raise SpecError(f"not a MedStrata board file (format {d.get('format')!r}, expected {BOARD_FORMAT!r})")
        board = cls(d["name"], int(d["n_slices"]), d["embedding"], d["primary_metric"],
                    d["tasks"], d.get("source_run", ""))
        if board.board_id != d["board_id"]:
            raise SpecError(f"board file {d['name']}: recorded id {d['board_id']} != content hash "
                            f"{board.board_id} (edited by hand?)")
        return board


def board_from_run(run_folder: Path, name: str | None = None) -> Board:
    """The board of a published run folder: its scored (task, seed, model) cells, slice budget and
    embedding (from the run's ``results.parquet``), each model's resolved spec (from the model
    cache) and each task's spec (from the task store, both under ``MEDSTRATA_HOME``)."""
    from medstrata.runner.jobs import _load_task

    run_folder = Path(run_folder)
    results_path = run_folder / "results.parquet"
    if not results_path.is_file():
        raise SpecError(f"{run_folder} is not a run folder (no results.parquet)")
    res = pd.read_parquet(results_path)
    cells = res.groupby(["task_id", "seed", "model_id"], as_index=False).first()
    tasks = []
    for r in cells.sort_values(["dataset", "seed", "task_id"]).itertuples():
        task = _load_task(r.task_id)
        n_test = int(np.sum(task.manifest.split.to_numpy() == "test"))
        tasks.append({"task_id": r.task_id, "dataset": r.dataset, "kind": r.task_strata, "seed": int(r.seed),
                      "model_id": r.model_id, "n_test": n_test, "spec": task.info["spec"],
                      "model_spec": model_meta(r.model_id)["spec"]})
    return Board(name or run_folder.name.rsplit("-", 1)[0], int(res.n_slices.max()), str(res.embedding.iloc[0]),
                 "ap", tasks, run_folder.name)


def model_dir_of(model_id: str) -> Path | None:
    """The cached reference model whose key starts with ``model_id`` (None when not cached)."""
    from medstrata.models.cache import is_valid, models_root

    hits = [p for p in sorted(models_root().glob(f"{model_id}*")) if is_valid(p)]
    return hits[0] if hits else None


def model_meta(model_id: str) -> dict:
    """``meta.json`` of a cached reference model."""
    from medstrata.models.cache import load_meta

    folder = model_dir_of(model_id)
    if folder is None:
        raise SpecError(f"reference model {model_id} is not in the model cache of MEDSTRATA_HOME")
    return load_meta(folder)
