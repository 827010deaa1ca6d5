"""The pinned scorer: a validated submission -> the flat records ``medstrata run`` would write.

Numbers inside a submission are never read as results: for every board cell the scorer loads the
task (rebuilt from its spec when absent, and checked to have the same content id) and the reference
model's test outputs, lines the submitted scores up with the test samples *by sample id*, and
scores them with :func:`medstrata.runner.jobs.score_outputs`, the function ``medstrata run`` uses.
``SCORER_VERSION`` (stored with every result) names this code; ``medstrata leaderboard rescore``
recomputes stored results when it changes.
"""

from __future__ import annotations

import json

import numpy as np

from medstrata.leaderboard.board import Board, model_dir_of
from medstrata.leaderboard.checks import SubmissionRejected
from medstrata.leaderboard.schema import Submission
from medstrata.runner import jobs as J

SCORER_VERSION = J.SCORER_VERSION


def check_board(sub: Submission, board: Board) -> None:
    """Stage 4a: board id, the set of tasks, and per task seed, reference model and slice budget."""
    if sub.board.id != board.board_id:
        raise SubmissionRejected(f"field board.id: stale board id {sub.board.id}; expected {board.board_id} "
                                 f"(board {board.name}); re-export from a run of the current suite")
    want = {t["task_id"]: t for t in board.tasks}
    extra = sorted(set(sub.tasks) - set(want))
    if extra:
        raise SubmissionRejected(f"task {extra[0]}: not a task of board {board.name} ({len(extra)} such; a stale task "
                                 f"hash?); expected only: {', '.join(sorted(want))}")
    missing = sorted(set(want) - set(sub.tasks))
    if missing:
        t = want[missing[0]]
        raise SubmissionRejected(f"task {missing[0]} ({t['dataset']}, seed {t['seed']}): missing ({len(missing)} of "
                                 f"{len(want)} tasks missing); expected every task of board {board.name}")
    for task_id, entry in sub.tasks.items():
        t = want[task_id]
        for field, found, expected in (("seed", entry.seed, t["seed"]), ("model_id", entry.model_id, t["model_id"])):
            if found != expected:
                raise SubmissionRejected(f"task {task_id}, field {field}: expected {expected}, found {found}")
        if entry.n_slices > board.n_slices:
            raise SubmissionRejected(f"task {task_id}, field n_slices: expected at most the board's slice budget "
                                     f"{board.n_slices}, found {entry.n_slices}")


def _columns_of(sub: Submission, task_id: str, columns: list[str]) -> dict:
    """{stratum column: {sample id: row}} of one task entry."""
    entry = sub.tasks[task_id]
    if (entry.scores is None) == (entry.scores_by_column is None):
        raise SubmissionRejected(f"task {task_id}: expected exactly one of scores / scores_by_column, found "
                                 f"{'both' if entry.scores is not None else 'neither'}")
    if entry.scores is not None:
        return {col: entry.scores for col in columns}
    if not sub.method.used_stratum_labels:
        raise SubmissionRejected(f"task {task_id}, field scores_by_column: only allowed with "
                                 "method.used_stratum_labels = true (per-column scores read the true strata)")
    got = entry.scores_by_column
    if sorted(got) != sorted(columns):
        raise SubmissionRejected(f"task {task_id}, field scores_by_column: expected columns {sorted(columns)}, "
                                 f"found {sorted(got)}")
    return dict(got)


def scores_matrix(task_id: str, rows: dict, test_ids: np.ndarray, n_slices: int) -> np.ndarray:
    """Stage 4b: (n_test, n_slices) float64 in the order of ``test_ids``; exactly the test samples."""
    have = set(rows)
    want = test_ids.tolist()
    missing = [s for s in want if s not in have]
    if missing:
        raise SubmissionRejected(f"task {task_id}, sample {missing[0]}: missing ({len(missing)} of {len(want)} test "
                                 "samples missing); expected a score row for every test sample of the task")
    extra = sorted(have - set(want))
    if extra:
        raise SubmissionRejected(f"task {task_id}, sample {extra[0]}: not a test sample of this task ({len(extra)} "
                                 "such ids); expected only the task's test sample ids")
    for s in want:
        if len(rows[s]) != n_slices:
            raise SubmissionRejected(f"task {task_id}, sample {s}: expected n_slices = {n_slices} scores, "
                                     f"found {len(rows[s])}")
    return np.asarray([rows[s] for s in want], dtype=np.float64)


def cell(board_task: dict, embedding: str) -> tuple:
    """``(task, model, test outputs)`` of one board cell on this machine; the task is rebuilt from its
    spec (and must get the same id) and the model retrained from its spec when not cached."""
    spec = board_task["spec"]
    strata = [(s["kind"], s["params"]) for s in spec["strata"]]
    task_id = J.task_job(spec["dataset"], strata, spec["seed"], spec["target"]["kind"], spec["size"])
    if task_id != board_task["task_id"]:
        raise SubmissionRejected(f"board task {board_task['task_id']} rebuilds as {task_id} here (other source "
                                 "bytes or builder version): this machine cannot score the board")
    folder = model_dir_of(board_task["model_id"])
    if folder is None:
        trained = J.model_job(task_id, board_task["model_spec"], board_task["seed"], progress=False)
        if trained["model_id"] != board_task["model_id"]:
            raise SubmissionRejected(f"board task {task_id}: the reference model retrained here has id "
                                     f"{trained['model_id']}, not {board_task['model_id']}")
        folder = trained["model_dir"]
    model = {"model_id": board_task["model_id"], "model_dir": str(folder)}
    return J._load_task(task_id), model, J.problem(str(folder), "test", embedding)


def meta_fields(sub: Submission, entry) -> dict:
    """The method fields of every record of this submission."""
    m = sub.method
    return {"method": m.name, "method_version": m.version, "is_oracle": bool(m.used_stratum_labels),
            "is_control": bool(m.control or m.used_stratum_labels), "random_state": int(entry.random_state),
            "embedding": m.embedding, "method_params": json.dumps({}, sort_keys=True)}


def score_submission(sub: Submission, board: Board) -> list[dict]:
    """Every record of a submission on every board cell (stages 4a and 4b run first)."""
    check_board(sub, board)
    records = []
    for t in board.tasks:
        task, model, test = cell(t, board.embedding)
        entry = sub.tasks[t["task_id"]]
        columns = task.stratum_columns()
        rows = _columns_of(sub, t["task_id"], columns)
        outputs = {col: scores_matrix(t["task_id"], rows[col], test.sample_ids, entry.n_slices) for col in columns}
        records += J.score_outputs(task, model, t["seed"], meta_fields(sub, entry), test, outputs)
    return records
