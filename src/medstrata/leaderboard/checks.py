"""Reading and validating a submission file against a board: every rejection says exactly what.

Order of checks (the first failing stage rejects; nothing is written before all pass):

1. **File**: a regular file (not a link, folder or device), at most ``MEDSTRATA_MAX_SUBMISSION_MB``
   (default 64) MiB, UTF-8.
2. **JSON**: well-formed, no duplicate keys in any object, no NaN / Infinity (reported at their
   place by stage 3).
3. **Format** (:class:`~medstrata.leaderboard.schema.Submission`): fields, types, ranges, names.
4. **Board**: the board id is current; every board task is present, none extra (a stale task
   hash); seed, reference model id, slice budget; per task exactly the test samples of the task,
   each with ``n_slices`` scores.

A rejection is a :class:`SubmissionRejected` whose message names the field, task, sample id, what
was expected and what was found.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from medstrata.errors import MedStrataError
from medstrata.leaderboard.schema import Submission


class SubmissionRejected(MedStrataError):
    """A submission that is not valid for the board; the message says where and why."""

    exit_code = 3


def max_bytes() -> int:
    """The size limit in bytes (env ``MEDSTRATA_MAX_SUBMISSION_MB``, default 64 MiB)."""
    return int(float(os.environ.get("MEDSTRATA_MAX_SUBMISSION_MB", "64")) * (1 << 20))


def read_file(path: Path) -> bytes:
    """The file's bytes after the file checks (stage 1)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SubmissionRejected(f"submission file {path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionRejected(f"submission file {path}: expected a regular file, found "
                                 f"{'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'no regular file'}")
    if st.st_size > max_bytes():
        raise SubmissionRejected(f"submission file {path}: {st.st_size} bytes, expected at most {max_bytes()} "
                                 "(MEDSTRATA_MAX_SUBMISSION_MB)")
    with open(path, "rb") as fh:
        data = fh.read(max_bytes() + 1)
    if len(data) > max_bytes():
        raise SubmissionRejected(f"submission file {path}: grew past {max_bytes()} bytes while read")
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise SubmissionRejected(f"malformed submission: duplicate key {key!r} in one JSON object "
                                     "(expected every key once)")
        seen.add(key)
    return dict(pairs)


def parse(data: bytes) -> Any:
    """Stage 2: JSON text -> Python objects (NaN/Infinity kept as floats for stage 3 to place)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionRejected(f"malformed submission: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise SubmissionRejected(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise SubmissionRejected("malformed submission: JSON nested too deeply") from None


def _where(loc: tuple) -> str:
    """A pydantic location as 'task T, sample S, score i' or 'field a.b'."""
    loc = tuple(str(x) for x in loc)
    if len(loc) >= 2 and loc[0] == "tasks":
        parts = [f"task {loc[1]}"]
        rest = loc[2:]
        if rest[:1] == ("scores_by_column",) and len(rest) >= 2:
            parts.append(f"column {rest[1]}")
            rest = ("scores",) + rest[2:]
        if rest[:1] == ("scores",) and len(rest) >= 2:
            parts.append(f"sample {rest[1]}")
            if len(rest) >= 3 and rest[2] != "[key]":
                parts.append(f"score {rest[2]}")
            return ", ".join(parts)
        return ", ".join(parts + ([f"field {'.'.join(rest)}"] if rest else []))
    return "field " + ".".join(loc) if loc else "top level"


def _found(value: Any) -> str:
    text = json.dumps(value, allow_nan=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _expected(err: dict) -> str:
    """pydantic's message, with the name rule spelled out for names."""
    msg = err["msg"][:1].lower() + err["msg"][1:]
    if err["type"] == "string_pattern_mismatch" and str(err["loc"][-1]) in ("name", "version", "embedding"):
        return ("expected letters, digits and _ . + - only, starting with a letter or digit "
                "(no HTML, no spaces, no path parts)")
    return "expected: " + msg


def to_model(obj: Any) -> Submission:
    """Stage 3: the strict model, or a rejection naming up to 5 problems (first by location)."""
    try:
        return Submission.model_validate(obj)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        lines = [f"{_where(e['loc'])}: {_expected(e)}; found {_found(e.get('input'))}" for e in errs[:5]]
        more = f" (and {len(errs) - 5} more)" if len(errs) > 5 else ""
        raise SubmissionRejected(f"invalid submission ({len(errs)} problem{'s' * (len(errs) > 1)}{more}):\n  " + "\n  ".join(lines)) from None


def load_submission(path: Path) -> tuple[Submission, bytes]:
    """Stages 1-3: ``(model, raw bytes)``."""
    data = read_file(Path(path))
    return to_model(parse(data)), data
