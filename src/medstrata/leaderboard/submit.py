"""``medstrata submit``: validate, score with the pinned scorer, record. And ``leaderboard rescore``.

* :func:`submit_file` - an *outputs* submission (a JSON file; never trusted, never executed).
* :func:`submit_code` - a registered method (built-in or plug-in entry point) run by the maintainer
  on every board cell; its slice scores become a payload like an outputs submission and go through
  the same scorer; the row is marked ``verified``.
* :func:`rescore` - recompute every stored public row with the current scorer (one transaction).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from medstrata.leaderboard import store
from medstrata.leaderboard.checks import load_submission, parse, to_model
from medstrata.leaderboard.schema import FORMAT, FORMAT_VERSION, Submission
from medstrata.leaderboard.scorer import check_board, score_submission


def scores_sha256(sub: Submission) -> str:
    """SHA-256 of the canonical JSON of the submission's tasks (its scores, seeds, models)."""
    tasks = {k: v.model_dump(exclude_none=True) for k, v in sub.tasks.items()}
    return hashlib.sha256(json.dumps(tasks, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _record(sub: Submission, payload: bytes, kind: str, verified: bool, db: Path | None,
            method: str | None = None) -> dict:
    """Score ``sub`` and store it; ``method``: the registered method of a code submission, whose
    records also get ``gap_closed`` (:mod:`medstrata.leaderboard.mitigation`)."""
    board = store.get_board(board_id=sub.board.id, path=db)
    check_board(sub, board)
    sha = scores_sha256(sub)
    store.precheck(board.board_id, "public", sub.method.name, sub.method.version, sha, db)
    records = _score(sub, board, method)
    entry = {"board_id": board.board_id, "tier": "public", "kind": kind, "name": sub.method.name,
             "version": sub.method.version, "method": sub.method.model_dump(), "verified": verified,
             "used_stratum_labels": sub.method.used_stratum_labels, "control": sub.method.control,
             "scores_sha256": sha, "payload": payload, "submitted_at": store.now()}
    sid = store.insert(entry, records, db)
    return {"submission_id": sid, "board": board.name, "board_id": board.board_id, "rows": len(records),
            "records": records}


def submit_file(path: Path, db: Path | None = None) -> dict:
    """Validate and score an outputs submission file, then store it (one transaction)."""
    sub, data = load_submission(Path(path))
    return _record(sub, data, "outputs", False, db)


def submit_code(method: str, board_name: str, db: Path | None = None, **meta) -> dict:
    """Run a registered method on every cell of the current board ``board_name`` and store the result
    as a verified submission (its payload is the submission file the run produced)."""
    from medstrata.leaderboard.export import code_submission

    board = store.get_board(name=board_name, path=db)
    doc = code_submission(method, board, **meta)
    data = json.dumps(doc, sort_keys=True).encode()
    return _record(to_model(parse(data)), data, "code", True, db, method)


def submit_private(method: str, board_name: str | None, db: Path | None = None,
                   overrides: tuple[str, ...] = (), **meta) -> dict:
    """Run a registered method in the private tier (secret from the environment, see
    :mod:`.private`) on the held-out tasks of the board's suite and store the records, which carry
    no spec, seed or sample id, as a verified private submission beside the public board."""
    from medstrata.leaderboard.export import method_meta
    from medstrata.leaderboard.private import load_secret, run_private

    board = store.get_board(name=board_name, path=db)
    records = run_private(method, load_secret(), suite=board.name, overrides=tuple(overrides))
    info = method_meta(method, board.embedding, **meta)
    payload = json.dumps({"method": info, "overrides": list(overrides), "records": records}, sort_keys=True,
                         default=float).encode()
    entry = {"board_id": board.board_id, "tier": "private", "kind": "code", "name": info["name"],
             "version": info["version"], "method": info, "verified": True,
             "used_stratum_labels": info["used_stratum_labels"], "control": info["control"],
             "scores_sha256": hashlib.sha256(payload).hexdigest(), "payload": payload, "submitted_at": store.now()}
    sid = store.insert(entry, records, db)
    return {"submission_id": sid, "board": board.name, "board_id": board.board_id, "rows": len(records),
            "records": records}


def rescore(db: Path | None = None) -> dict[str, int]:
    """Recompute the records of every submission with the current scorer, then replace them all in
    one transaction (nothing changes if one fails): public rows from their stored scores, private
    rows by running the method again on the held-out tasks (needs the secret; cached models)."""
    from medstrata.leaderboard.private import load_secret, run_private

    new = {}
    for sid, board_id, tier, kind, payload in store.payloads(path=db):
        board = store.get_board(board_id=board_id, path=db, current_only=False)
        if tier == "private":
            doc = json.loads(payload)
            new[sid] = run_private(doc["method"]["name"], load_secret(), suite=board.name,
                                   overrides=tuple(doc.get("overrides", [])))
        else:
            sub = to_model(parse(payload))
            new[sid] = _score(sub, board, sub.method.name if kind == "code" else None)
    store.replace_records(new, db)
    return {"rescored": len(new), "rows": sum(len(v) for v in new.values())}


def _score(sub: Submission, board, method: str | None) -> list[dict]:
    """The pinned scorer's records, with the mitigation fields when ``method`` (code submissions)."""
    records = score_submission(sub, board)
    if method is None:
        return records
    from medstrata.leaderboard.mitigation import with_mitigation

    return with_mitigation(records, method, board)


def header(board_name: str, board_id: str, method: dict) -> dict:
    """The envelope of a submission document (everything but ``tasks``)."""
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "board": {"name": board_name, "id": board_id},
            "method": method}
