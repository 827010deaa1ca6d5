"""Leaderboard pieces without a run: task entries, per-column scores, board files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from medstrata.errors import SpecError
from medstrata.leaderboard.board import Board
from medstrata.leaderboard.checks import SubmissionRejected
from medstrata.leaderboard.export import task_entry
from medstrata.leaderboard.schema import Submission
from medstrata.leaderboard.scorer import _columns_of, scores_matrix

T = {"seed": 0, "model_id": "ab" * 8}
IDS = np.array(["x-28-test-0", "x-28-test-1", "x-28-test-2"])


def _doc(entry: dict, used: bool) -> Submission:
    return Submission.model_validate({
        "format": "medstrata-submission", "format_version": 1, "board": {"name": "b", "id": "0" * 16},
        "method": {"name": "m", "version": "1", "authors": ["A"], "embedding": "penultimate",
                   "used_stratum_labels": used}, "tasks": {"c" * 16: entry}})


def test_equal_columns_give_one_score_map_and_exact_floats():
    a = np.array([[0.1, 1 / 3], [0.2, 0.7], [1.0, 0.0]])
    entry = task_entry(T, IDS, {"stratum_a": a, "stratum_b": a.copy()}, 0)
    assert "scores" in entry and "scores_by_column" not in entry and entry["n_slices"] == 2
    back = json.loads(json.dumps(entry))["scores"]["x-28-test-0"][1]
    assert back == 1 / 3  # JSON repr round-trips a float64 exactly


def test_oracle_columns_round_trip_through_the_scorer():
    a, b = np.eye(3)[:, :2], np.eye(3)[:, 1:]
    entry = task_entry(T, IDS, {"stratum_a": a, "stratum_b": b}, 0)
    assert set(entry["scores_by_column"]) == {"stratum_a", "stratum_b"}
    sub = _doc(entry, used=True)
    rows = _columns_of(sub, "c" * 16, ["stratum_a", "stratum_b"])
    shuffled = IDS[[2, 0, 1]]  # joined by sample id, not by position
    np.testing.assert_array_equal(scores_matrix("c" * 16, rows["stratum_b"], shuffled, 2), b[[2, 0, 1]])
    with pytest.raises(SubmissionRejected, match=r"expected columns \['stratum_a'\], found"):
        _columns_of(sub, "c" * 16, ["stratum_a"])
    with pytest.raises(SubmissionRejected, match="only allowed with method.used_stratum_labels"):
        _columns_of(_doc(entry, used=False), "c" * 16, ["stratum_a", "stratum_b"])


def test_a_board_file_edited_by_hand_is_refused():
    board = Board("quick", 5, "penultimate", "ap", [{"task_id": "a" * 16, "seed": 0, "model_id": "b" * 16,
                                                     "n_test": 10, "model_spec": {"epochs": 7}}])
    assert Board.from_json(board.to_json()).board_id == board.board_id
    edited = json.loads(board.to_json())
    edited["tasks"][0]["n_test"] = 11
    with pytest.raises(SpecError, match="edited by hand"):
        Board.from_json(json.dumps(edited))
    other = Board("quick", 4, "penultimate", "ap", board.tasks)
    assert other.board_id != board.board_id  # the slice budget is part of the board
