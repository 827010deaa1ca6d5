"""Hostile and malformed submissions: every case is rejected with its own message (field, task,
sample, expected, found), and after all of them the database file is byte for byte unchanged."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.unit.leaderboard_fixtures import copy_home, export_doc, make_board_home, write

pytestmark = pytest.mark.slow  # shares one synthetic run (~25 s)


def _doc(fn):
    """A case made by editing a copy of the valid document ``d`` in place."""
    def make(base: dict, tmp: Path) -> Path:
        d = copy.deepcopy(base)
        fn(d)
        return write(d, tmp / "case.json")
    return make


def _raw(data: bytes):
    def make(base: dict, tmp: Path) -> Path:
        (tmp / "case.json").write_bytes(data)
        return tmp / "case.json"
    return make


def _text(fn):
    """A case made by editing the JSON text of the valid document."""
    def make(base: dict, tmp: Path) -> Path:
        (tmp / "case.json").write_text(fn(json.dumps(base)))
        return tmp / "case.json"
    return make


def t0(d):  # first task entry
    return d["tasks"][sorted(d["tasks"])[0]]


def s0(d):  # first sample id of the first task
    return sorted(t0(d)["scores"])[0]


def _set_score(value):
    def fn(d):
        t0(d)["scores"][s0(d)][0] = value
    return fn


def _set(path: str, value):
    def fn(d):
        obj = d
        *parents, last = path.split(".")
        for p in parents:
            obj = obj[p]
        obj[last] = value
    return fn


def _del(path: str):
    def fn(d):
        *parents, last = path.split(".")
        obj = d
        for p in parents:
            obj = obj[p]
        del obj[last]
    return fn


def _task_set(key, value):
    def fn(d):
        t0(d)[key] = value
    return fn


def _rename_task(new_id):
    def fn(d):
        d["tasks"][new_id] = d["tasks"].pop(sorted(d["tasks"])[0])
    return fn


def _drop_task(d):
    del d["tasks"][sorted(d["tasks"])[0]]


def _drop_sample(d):
    del t0(d)["scores"][s0(d)]


def _add_sample(sid):
    def fn(d):
        t0(d)["scores"][sid] = [0.5] * t0(d)["n_slices"]
    return fn


def _short_row(d):
    t0(d)["scores"][s0(d)] = t0(d)["scores"][s0(d)][:-1]


def _wide(d):
    for t in d["tasks"].values():
        t["n_slices"] = 6
        t["scores"] = {s: row + [0.0] for s, row in t["scores"].items()}


def _both(d):
    t0(d)["scores_by_column"] = {"stratum_spurious_marker": t0(d)["scores"]}


def _by_column_only(d):
    t0(d)["scores_by_column"] = {"stratum_spurious_marker": t0(d).pop("scores")}


def _new_scores(d):  # the same method name and version with other scores
    for t in d["tasks"].values():
        t["scores"] = {s: [round(1 - v, 6) for v in row] for s, row in t["scores"].items()}


def _dup_key_text(text: str) -> str:
    return text.replace('"version":', '"name": "again", "version":', 1)


def _dup_sample_text(text: str) -> str:
    m = re.search(r'"(pneumoniamnist-28-test-\d+)": (\[[^\]]*\])', text)
    return text.replace(m.group(0), m.group(0) + ", " + m.group(0), 1)


def _symlink(base: dict, tmp: Path) -> Path:
    target = write(base, tmp / "real.json")
    (tmp / "case.json").symlink_to(target)
    return tmp / "case.json"


def _folder(base: dict, tmp: Path) -> Path:
    (tmp / "case.json").mkdir()
    return tmp / "case.json"


TASK = r"task [0-9a-f]{16}"
SAMPLE = TASK + r", sample pneumoniamnist-28-test-\d+"
NAME_RULE = re.escape("expected letters, digits and _ . + - only")
CASES = [
    ("missing file", lambda b, t: t / "nope.json", r"nope\.json: cannot be read"),
    ("a folder", _folder, r"expected a regular file, found no regular file"),
    ("a symbolic link", _symlink, r"expected a regular file, found a symbolic link"),
    ("oversized", "oversized", r"bytes, expected at most 1024 \(MEDSTRATA_MAX_SUBMISSION_MB\)"),
    ("not utf-8", _raw(b'{"format": "\xff\xfe"}'), r"not UTF-8 text \(byte 12\)"),
    ("truncated json", _text(lambda s: s[: len(s) // 2]), r"malformed JSON at line 1, column \d+"),
    ("empty file", _raw(b""), r"malformed JSON at line 1, column 1: Expecting value"),
    ("top level is a list", _raw(b"[1, 2]"), r"top level: expected: input should be a valid dictionary"),
    ("nested too deep", _raw(b"[" * 200000 + b"]" * 200000), r"JSON nested too deeply"),
    ("duplicate key", _text(_dup_key_text), r"duplicate key 'name' in one JSON object"),
    ("duplicate sample id", _text(_dup_sample_text), r"duplicate key 'pneumoniamnist-28-test-\d+'"),
    ("wrong format", _doc(_set("format", "kaggle-csv")), r"field format: expected: input should be 'medstrata-submission'"),
    ("future format version", _doc(_set("format_version", 2)), r"field format_version: expected: input should be 1"),
    ("no method block", _doc(_del("method")), r"field method: expected: field required"),
    ("extra top-level field", _doc(_set("results", {"ap": 1.0})), r"field results: expected: extra inputs are not permitted"),
    ("extra method field", _doc(_set("method.ap", 0.99)), r"field method.ap: expected: extra inputs are not permitted"),
    ("script in name", _doc(_set("method.name", "<script>alert(1)</script>")), r"field method.name: " + NAME_RULE),
    ("path in name", _doc(_set("method.name", "../../etc/passwd")), r"field method.name: " + NAME_RULE),
    ("slash in name", _doc(_set("method.name", "a/b")), r"field method.name: " + NAME_RULE),
    ("empty name", _doc(_set("method.name", "")), r"field method.name: " + NAME_RULE),
    ("space in version", _doc(_set("method.version", "1 0")), r"field method.version: " + NAME_RULE),
    ("path in embedding", _doc(_set("method.embedding", "../weights.pt")), r"field method.embedding: " + NAME_RULE),
    ("no authors", _doc(_set("method.authors", [])), r"field method.authors: expected: list should have at least 1 item"),
    ("html in author", _doc(_set("method.authors", ["<b>x</b>"])), r"field method.authors.0: expected: string should match pattern"),
    ("javascript url", _doc(_set("method.code_url", "javascript:alert(1)")), r"field method.code_url: expected: string should match pattern"),
    ("file url", _doc(_set("method.paper_url", "file:///etc/passwd")), r"field method.paper_url: expected: string should match pattern"),
    ("flag as string", _doc(_set("method.used_stratum_labels", "no")), r"field method.used_stratum_labels: expected: input should be a valid boolean"),
    ("board id not hex", _doc(_set("board.id", "../../board")), r"field board.id: expected: string should match pattern"),
    ("no tasks", _doc(_set("tasks", {})), r"field tasks: expected: dictionary should have at least 1 item"),
    ("task id with a path", _doc(_rename_task("../../tasks/x")), r"task ../../tasks/x, field \[key\]: expected: string should match pattern"),
    ("negative seed", _doc(_task_set("seed", -1)), TASK + r", field seed: expected: input should be greater than or equal to 0"),
    ("seed as string", _doc(_task_set("seed", "0")), TASK + r", field seed: expected: input should be a valid integer"),
    ("zero slices", _doc(_task_set("n_slices", 0)), TASK + r", field n_slices: expected: input should be greater than or equal to 1"),
    ("NaN score", _doc(_set_score(float("nan"))), SAMPLE + r", score 0: expected: input should be a finite number; found NaN"),
    ("Infinity score", _doc(_set_score(float("inf"))), SAMPLE + r", score 0: expected: input should be a finite number; found Infinity"),
    ("negative score", _doc(_set_score(-0.1)), SAMPLE + r", score 0: expected: input should be greater than or equal to 0; found -0.1"),
    ("score above 1", _doc(_set_score(1.5)), SAMPLE + r", score 0: expected: input should be less than or equal to 1; found 1.5"),
    ("score as string", _doc(_set_score("0.5")), SAMPLE + r", score 0: expected: input should be a valid number"),
    ("empty score row", _doc(lambda d: t0(d)["scores"].__setitem__(s0(d), [])), SAMPLE + r": expected: list should have at least 1 item"),
    ("sample id with a path", _doc(_add_sample("../x")), TASK + r", sample \.\./x: expected: string should match pattern"),
    ("scores as a list", _doc(_task_set("scores", [[0.5]])), TASK + r", field scores: expected: input should be a valid dictionary"),
    ("scores and scores_by_column", _doc(_both), TASK + r": expected exactly one of scores / scores_by_column, found both"),
    ("no scores", _doc(_del_scores := (lambda d: t0(d).pop("scores"))), TASK + r": expected exactly one of scores / scores_by_column, found neither"),
    ("per-column scores without labels", _doc(_by_column_only), TASK + r", field scores_by_column: only allowed with method.used_stratum_labels = true"),
    ("unknown board id", _doc(_set("board.id", "0123456789abcdef")), r"field board.id: board id 0123456789abcdef is not registered"),
    ("stale task hash", _doc(_rename_task("0123456789abcdef")), r"task 0123456789abcdef: not a task of board smoke \(1 such; a stale task hash\?\)"),
    ("missing task", _doc(_drop_task), TASK + r" \(pneumoniamnist, seed \d\): missing \(1 of 2 tasks missing\)"),
    ("wrong seed", _doc(_task_set("seed", 7)), TASK + r", field seed: expected \d, found 7"),
    ("stale reference model", _doc(_task_set("model_id", "0123456789abcdef")), TASK + r", field model_id: expected [0-9a-f]{16}, found 0123456789abcdef"),
    ("over the slice budget", _doc(_wide), TASK + r", field n_slices: expected at most the board's slice budget 5, found 6"),
    ("missing sample", _doc(_drop_sample), SAMPLE + r": missing \(1 of \d+ test samples missing\)"),
    ("unknown sample", _doc(_add_sample("pneumoniamnist-28-test-99999")), TASK + r", sample pneumoniamnist-28-test-99999: not a test sample of this task"),
    ("a val sample", _doc(_add_sample("pneumoniamnist-28-val-0")), TASK + r", sample pneumoniamnist-28-val-0: not a test sample of this task"),
    ("short score row", _doc(_short_row), SAMPLE + r": expected n_slices = \d scores, found \d"),
    ("duplicate submission", _doc(_set("method.name", "random")), r"duplicate submission: the same scores \(sha256 [0-9a-f]{16}\.\.\.\) are already submission #1 \(random 1\)"),
    ("same name and version", _doc(lambda d: (_new_scores(d), _set("method.name", "random")(d))), r"duplicate submission: field method.version: random 1 is already submission #1; expected a new version"),
]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(home, valid document named ``hostile``) with one accepted submission (``random 1``, the
    same scores) in the database."""
    from medstrata.leaderboard.submit import submit_file

    source, run = make_board_home(tmp_path_factory)
    with pytest.MonkeyPatch.context() as mp:
        home = copy_home(source, tmp_path_factory.mktemp("hostile") / "home", mp)
        doc = export_doc(home / "runs" / run.name, "random")
        submit_file(write(doc, home / "random.json"))
    return home, {**doc, "method": {**doc["method"], "name": "hostile"}}


def _attempt(home: Path, doc: dict, case, tmp: Path, monkeypatch) -> str:
    from medstrata.leaderboard.checks import SubmissionRejected
    from medstrata.leaderboard.submit import submit_file

    copy_home_env(home, monkeypatch)
    if case == "oversized":
        monkeypatch.setenv("MEDSTRATA_MAX_SUBMISSION_MB", str(1024 / (1 << 20)))
        path = write(doc, tmp / "case.json")
    else:
        path = case(doc, tmp)
    with pytest.raises(SubmissionRejected) as err:
        submit_file(path)
    monkeypatch.delenv("MEDSTRATA_MAX_SUBMISSION_MB", raising=False)
    return str(err.value)


def copy_home_env(home: Path, monkeypatch) -> None:
    from tests.unit.leaderboard_fixtures import synthetic

    monkeypatch.setenv("MEDSTRATA_HOME", str(home))
    monkeypatch.setenv("MEDSTRATA_OFFLINE", "1")
    monkeypatch.delenv("MEDSTRATA_LEADERBOARD_DB", raising=False)
    synthetic(monkeypatch)


@pytest.mark.parametrize("name,case,pattern", CASES, ids=[c[0] for c in CASES])
def test_hostile_submission_is_rejected_with_its_own_message(hostile, name, case, pattern, tmp_path, monkeypatch):
    home, doc = hostile
    message = _attempt(home, doc, case, tmp_path, monkeypatch)
    assert re.search(pattern, message), f"{name}: {message}"


def _db_state(db: Path) -> tuple[str, int]:
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = con.execute("SELECT count(*) FROM results").fetchone()[0]
    return hashlib.sha256(db.read_bytes()).hexdigest(), rows


def test_all_cases_leave_the_database_file_unchanged(hostile, tmp_path, monkeypatch):
    home, doc = hostile
    db = home / "leaderboard" / "leaderboard.db"
    before = _db_state(db)
    messages = set()
    for i, (_, case, _) in enumerate(CASES):
        (tmp_path / str(i)).mkdir()
        messages.add(_attempt(home, doc, case, tmp_path / str(i), monkeypatch))
    assert len(CASES) >= 40 and len(messages) == len(CASES)  # each case its own message
    assert _db_state(db) == before
