"""The leaderboard store: one SQLite database in WAL mode.

Location: ``MEDSTRATA_LEADERBOARD_DB``, default ``$MEDSTRATA_HOME/leaderboard/leaderboard.db``.

Tables (``SCHEMA``): ``boards`` (definition JSON; ``current`` = the newest board of its name),
``submissions`` (method metadata, tier, verified, the submission's scores as a zlib-compressed
canonical JSON payload, its SHA-256, scorer and benchmark version) and ``results`` (one row per
task x stratum column x stratum id: the flat record as JSON plus the main metrics as columns).

**One transaction per submit.** Scoring happens before the write; the write is a single
``BEGIN IMMEDIATE ... COMMIT`` that re-checks for duplicates, inserts the submission and all its
rows. A process killed inside it leaves no row (SQLite rolls the WAL frames of an uncommitted
transaction back); concurrent submits wait for the lock (``busy_timeout``) and never interleave.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
import zlib
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from medstrata import __version__, paths
from medstrata.errors import MedStrataError
from medstrata.leaderboard.board import Board
from medstrata.leaderboard.checks import SubmissionRejected

SCHEMA = """
CREATE TABLE IF NOT EXISTS boards (
  board_id TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL,
  created_at TEXT NOT NULL, current INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS submissions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  board_id TEXT NOT NULL REFERENCES boards(board_id),
  tier TEXT NOT NULL CHECK (tier IN ('public', 'private')),
  kind TEXT NOT NULL CHECK (kind IN ('outputs', 'code')),
  name TEXT NOT NULL, version TEXT NOT NULL, method_json TEXT NOT NULL,
  verified INTEGER NOT NULL, used_stratum_labels INTEGER NOT NULL, control INTEGER NOT NULL,
  scores_sha256 TEXT NOT NULL, payload BLOB NOT NULL,
  submitted_at TEXT NOT NULL, scored_at TEXT NOT NULL,
  scorer_version TEXT NOT NULL, benchmark_version TEXT NOT NULL,
  UNIQUE (board_id, tier, name, version), UNIQUE (board_id, tier, scores_sha256));
CREATE TABLE IF NOT EXISTS results (
  submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
  task_id TEXT NOT NULL, seed INTEGER NOT NULL, stratum_column TEXT NOT NULL, stratum_id INTEGER NOT NULL,
  ap REAL, p_at_10 REAL, worst_slice_acc REAL, scorer_version TEXT NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (submission_id, task_id, stratum_column, stratum_id));
"""
#: Test hook: a submit that finds this file name in the env writes it and waits inside its transaction.
HOLD_ENV = "MEDSTRATA_TEST_HOLD_IN_TRANSACTION"


class LeaderboardError(MedStrataError):
    """The store cannot do what was asked (unknown board, no database yet)."""


def db_path() -> Path:
    env = os.environ.get("MEDSTRATA_LEADERBOARD_DB")
    return Path(env).expanduser() if env else paths.home() / "leaderboard" / "leaderboard.db"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextmanager
def connect(path: Path | None = None, create: bool = True):
    """A connection in autocommit mode (transactions are explicit), WAL, foreign keys on."""
    path = Path(path or db_path())
    if not path.exists() and not create:
        raise LeaderboardError(f"no leaderboard database at {path}; run `medstrata leaderboard init` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=300, isolation_level=None)
    try:
        con.execute("PRAGMA busy_timeout = 300000")
        con.execute("PRAGMA foreign_keys = ON")
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = FULL")
        con.executescript(SCHEMA)
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: sqlite3.Connection):
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def add_board(board: Board, path: Path | None = None) -> bool:
    """Register ``board`` as the current board of its name; False when it was already current."""
    with connect(path) as con, transaction(con):
        row = con.execute("SELECT current FROM boards WHERE board_id = ?", (board.board_id,)).fetchone()
        if row and row[0]:
            return False
        con.execute("UPDATE boards SET current = 0 WHERE name = ?", (board.name,))
        con.execute("INSERT OR REPLACE INTO boards VALUES (?, ?, ?, ?, 1)",
                    (board.board_id, board.name, board.to_json(), now()))
    return True


def get_board(board_id: str | None = None, name: str | None = None, path: Path | None = None,
              current_only: bool = True) -> Board:
    """A board by id or the current board of ``name`` (None: the only current board). A board id
    that is no longer current is refused unless ``current_only`` is False (rescoring old rows)."""
    with connect(path, create=False) as con:
        if board_id is not None:
            row = con.execute("SELECT definition, current FROM boards WHERE board_id = ?", (board_id,)).fetchone()
        elif name is None:
            rows = con.execute("SELECT definition, 1 FROM boards WHERE current = 1").fetchall()
            row = rows[0] if len(rows) == 1 else None
        else:
            row = con.execute("SELECT definition, 1 FROM boards WHERE name = ? AND current = 1", (name,)).fetchone()
        known = con.execute("SELECT name, board_id FROM boards WHERE current = 1 ORDER BY name").fetchall()
    listing = ", ".join(f"{n} ({i})" for n, i in known) or "none"
    if row is None or (current_only and not row[1]):
        what = f"board id {board_id}" if board_id else f"board {name!r}" if name else "a default board (give --board)"
        state = "is no longer current (stale)" if row is not None else "is not registered"
        raise SubmissionRejected(f"field board.id: {what} {state}; expected a current board: {listing}")
    return Board.from_json(row[0])


def check_new(con: sqlite3.Connection, board_id: str, tier: str, name: str, version: str, sha: str) -> None:
    """Reject a duplicate: the same scores, or the same method name and version, on this board and tier."""
    same = con.execute("SELECT id, name, version FROM submissions WHERE board_id = ? AND tier = ? AND "
                       "scores_sha256 = ?", (board_id, tier, sha)).fetchone()
    if same:
        raise SubmissionRejected(f"duplicate submission: the same scores (sha256 {sha[:16]}...) are already "
                                 f"submission #{same[0]} ({same[1]} {same[2]})")
    named = con.execute("SELECT id FROM submissions WHERE board_id = ? AND tier = ? AND name = ? AND version = ?",
                        (board_id, tier, name, version)).fetchone()
    if named:
        raise SubmissionRejected(f"duplicate submission: field method.version: {name} {version} is already "
                                 f"submission #{named[0]}; expected a new version")


def precheck(board_id: str, tier: str, name: str, version: str, sha: str, path: Path | None = None) -> None:
    """:func:`check_new` before the (slow) scoring, so a duplicate fails fast."""
    with connect(path, create=False) as con:
        check_new(con, board_id, tier, name, version, sha)


def _row(rec: dict) -> tuple:
    return (rec["task_id"], int(rec["seed"]), rec["stratum_column"], int(rec["stratum_id"]), rec.get("ap"),
            rec.get("p_at_10"), rec.get("worst_slice_acc"))


def insert(entry: dict, records: list[dict], path: Path | None = None) -> int:
    """Insert one scored submission and all its records in one transaction; returns its id.

    ``entry``: board_id, tier, kind, name, version, method (dict), verified, used_stratum_labels,
    control, scores_sha256, payload (bytes, uncompressed canonical JSON), submitted_at."""
    from medstrata.leaderboard.scorer import SCORER_VERSION

    with connect(path) as con, transaction(con):
        check_new(con, entry["board_id"], entry["tier"], entry["name"], entry["version"], entry["scores_sha256"])
        cur = con.execute(
            "INSERT INTO submissions (board_id, tier, kind, name, version, method_json, verified, "
            "used_stratum_labels, control, scores_sha256, payload, submitted_at, scored_at, scorer_version, "
            "benchmark_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry["board_id"], entry["tier"], entry["kind"], entry["name"], entry["version"],
             json.dumps(entry["method"], sort_keys=True), int(entry["verified"]), int(entry["used_stratum_labels"]),
             int(entry["control"]), entry["scores_sha256"], zlib.compress(entry["payload"], 6),
             entry["submitted_at"], now(), SCORER_VERSION, __version__))
        sid = int(cur.lastrowid)
        _insert_records(con, sid, records, hold=True)
    return sid


def _insert_records(con: sqlite3.Connection, sid: int, records: list[dict], hold: bool = False) -> None:
    from medstrata.leaderboard.scorer import SCORER_VERSION

    rows = [(sid, *_row(r), SCORER_VERSION, json.dumps(_json_safe(r), sort_keys=True, allow_nan=False))
            for r in records]
    half = len(rows) // 2
    con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[:half])
    if hold and os.environ.get(HOLD_ENV):
        Path(os.environ[HOLD_ENV]).write_text(str(os.getpid()))
        time.sleep(600)
    con.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[half:])


def _json_safe(value):
    """Records as strict JSON: NaN / inf -> null (read back as NaN), numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        items = value.tolist() if hasattr(value, "tolist") else value
        return [_json_safe(v) for v in items] if isinstance(items, list) else _json_safe(items)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def payloads(path: Path | None = None) -> list[tuple[int, str, str, str, bytes]]:
    """``(id, board id, tier, kind, payload bytes)`` of every submission."""
    with connect(path, create=False) as con:
        rows = con.execute("SELECT id, board_id, tier, kind, payload FROM submissions ORDER BY id").fetchall()
    return [(i, b, t, k, zlib.decompress(p)) for i, b, t, k, p in rows]


def replace_records(new: dict[int, list[dict]], path: Path | None = None) -> None:
    """Rescore: replace the records of the given submissions in one transaction."""
    from medstrata.leaderboard.scorer import SCORER_VERSION

    with connect(path) as con, transaction(con):
        for sid, records in new.items():
            con.execute("DELETE FROM results WHERE submission_id = ?", (sid,))
            _insert_records(con, sid, records)
            con.execute("UPDATE submissions SET scorer_version = ?, scored_at = ? WHERE id = ?",
                        (SCORER_VERSION, now(), sid))


def frames(board: Board, path: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(records, submissions)`` of a board for :func:`medstrata.leaderboard.page.build_page`."""
    with connect(path, create=False) as con:
        subs = pd.read_sql_query(
            "SELECT id AS submission_id, tier, kind, name, version, method_json, verified, used_stratum_labels, "
            "control, submitted_at, scorer_version, benchmark_version FROM submissions WHERE board_id = ? "
            "ORDER BY id", con, params=(board.board_id,))
        res = pd.read_sql_query("SELECT r.submission_id, r.record FROM results r JOIN submissions s "
                                "ON s.id = r.submission_id WHERE s.board_id = ?", con, params=(board.board_id,))
    subs = _submission_columns(subs, board)
    records = pd.DataFrame([json.loads(r) for r in res.record]) if len(res) else pd.DataFrame()
    if len(records):
        for col in ("stratum_params", "task_strata", "target"):  # private records carry no spec
            records[col] = records[col].fillna("") if col in records else ""
        records["submission_id"] = res.submission_id.to_numpy()
        info = subs.set_index("submission_id")
        records["board_name"] = records.submission_id.map(info.board_name)
        records["tier"] = records.submission_id.map(info.tier)
    return records, subs


def _submission_columns(subs: pd.DataFrame, board: Board) -> pd.DataFrame:
    meta = [json.loads(m) for m in subs.method_json]
    return subs.assign(
        board_name=[f"{n} {v}" for n, v in zip(subs.name, subs.version)],
        authors=["; ".join(m.get("authors", [])) for m in meta], code_url=[m.get("code_url") for m in meta],
        paper_url=[m.get("paper_url") for m in meta], embedding=[m.get("embedding") for m in meta],
        used_stratum_labels=subs.used_stratum_labels.astype(bool), verified=subs.verified.astype(bool),
        is_oracle=subs.used_stratum_labels.astype(bool),
        is_control=subs.control.astype(bool) | subs.used_stratum_labels.astype(bool),
        suite_id=board.board_id, suite_name=board.name).drop(columns=["method_json", "control"])
