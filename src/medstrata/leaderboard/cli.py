"""Leaderboard subcommands of ``medstrata``: ``export-submission``, ``submit`` and ``leaderboard``.

  medstrata leaderboard init --run <run folder>           # register the board of a published run
  medstrata export-submission <run folder> --method loss_rank --out sub.json
  medstrata submit sub.json                               # validate, score (pinned scorer), store
  medstrata submit --method my_plugin --board quick       # run an installed method: verified
  medstrata submit --method my_plugin --tier private      # the held-out tier (needs the secret)
  medstrata leaderboard build --out leaderboard/site      # static page + Markdown + CSV + plot
  medstrata leaderboard rescore                           # recompute every row with this scorer
  medstrata leaderboard list

The database: ``MEDSTRATA_LEADERBOARD_DB`` (default ``$MEDSTRATA_HOME/leaderboard/leaderboard.db``).
Exit status 3 when a submission is rejected (one ``error:`` paragraph saying where and why).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from medstrata.errors import SpecError


def _meta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--author", action="append", default=None, dest="authors", help="author (repeatable)")
    p.add_argument("--version", default=None, help="method version (default: the class's version)")
    p.add_argument("--code-url", default=None)
    p.add_argument("--paper-url", default=None)
    p.add_argument("--description", default="")


def _meta(args: argparse.Namespace) -> dict:
    return {"authors": args.authors, "version": args.version, "code_url": args.code_url,
            "paper_url": args.paper_url, "description": args.description}


def _db(args: argparse.Namespace):
    return Path(args.db) if args.db else None


def cmd_export(args: argparse.Namespace) -> int:
    from medstrata.leaderboard import store
    from medstrata.leaderboard.board import Board
    from medstrata.leaderboard.export import run_submission, write_submission

    run = Path(args.run)
    board = Board.from_json(Path(args.board_file).read_text()) if args.board_file else \
        store.get_board(name=args.board or run.name.rsplit("-", 1)[0], path=_db(args))
    doc = run_submission(run, args.method, board, **_meta(args))
    out = write_submission(doc, Path(args.out))
    print(f"wrote {out} ({out.stat().st_size} bytes): {args.method} on {len(doc['tasks'])} tasks of board "
          f"{board.name} ({board.board_id})")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from medstrata.leaderboard.submit import submit_code, submit_file

    if args.tier == "private" and args.method is None:
        raise SpecError("the private tier takes code submissions only: --method <registered method> --tier private")
    if (args.file is None) == (args.method is None):
        raise SpecError("give either a submission file or --method <registered method> (not both)")
    if args.file is not None:
        out = submit_file(Path(args.file), _db(args))
    elif args.tier == "private":
        from medstrata.leaderboard.submit import submit_private

        out = submit_private(args.method, args.board, _db(args), tuple(args.override), **_meta(args))
    else:
        out = submit_code(args.method, args.board, _db(args), **_meta(args))
    ap = [r["ap"] for r in out["records"] if r["ap"] == r["ap"]]
    print(f"accepted: submission #{out['submission_id']} on board {out['board']} ({out['board_id']}), "
          f"{out['rows']} rows scored, mean AP {sum(ap) / max(len(ap), 1):.3f}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from medstrata.leaderboard import store

    if args.action == "init":
        from medstrata.leaderboard.board import Board, board_from_run

        board = Board.from_json(Path(args.board_file).read_text()) if args.board_file else \
            board_from_run(Path(args.run), args.name)
        new = store.add_board(board, _db(args))
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(board.to_json())
        print(f"board {board.name} ({board.board_id}): {len(board.tasks)} task cells, n_slices {board.n_slices}"
              f"{'' if new else ' (already current)'}; database {args.db or store.db_path()}")
        return 0
    if args.action == "rescore":
        from medstrata.leaderboard.submit import rescore

        print(json.dumps(rescore(_db(args))))
        return 0
    board = store.get_board(name=args.board, path=_db(args))
    records, subs = store.frames(board, _db(args))
    if args.action == "list":
        cols = ["submission_id", "tier", "kind", "board_name", "verified", "used_stratum_labels", "submitted_at",
                "scorer_version"]
        print(subs[cols].to_string(index=False) if len(subs) else "no submissions")
        return 0
    if records.empty:
        raise store.LeaderboardError(f"board {board.name} ({board.board_id}) has no scored submissions yet: "
                                     "nothing to publish")
    from medstrata import __version__
    from medstrata.leaderboard.page import build_page
    from medstrata.leaderboard.scorer import SCORER_VERSION
    from medstrata.leaderboard.store import now

    meta = {"benchmark_version": __version__, "suite_name": board.name, "suite_id": board.board_id,
            "scorer_version": SCORER_VERSION, "built_at": now(), "primary_metric": board.primary_metric}
    files = build_page(records, subs, meta, Path(args.out))
    print("\n".join(f"wrote {p}" for p in files.values()))
    return 0


def add_parsers(sub) -> None:
    """Register ``export-submission``, ``submit`` and ``leaderboard`` on the main parser."""
    e = sub.add_parser("export-submission", help="write a leaderboard submission from a run folder")
    e.add_argument("run", help="a run folder (MEDSTRATA_HOME/runs/<suite>-<id>)")
    e.add_argument("--method", required=True)
    e.add_argument("--out", required=True, help="submission JSON path")
    e.add_argument("--board", default=None, help="board name (default: the run's suite)")
    e.add_argument("--board-file", default=None, help="a board JSON file instead of the database")
    e.add_argument("--db", default=None)
    _meta_args(e)
    e.set_defaults(func=cmd_export)
    s = sub.add_parser("submit", help="validate, score and record a submission file or an installed method")
    s.add_argument("file", nargs="?", default=None)
    s.add_argument("--method", default=None, help="run this registered method instead (verified)")
    s.add_argument("--board", default=None, help="with --method: the board name (default: the only current one)")
    s.add_argument("--tier", choices=["public", "private"], default="public",
                   help="with --method: private = the secret-derived held-out tasks (docs/private_tier.md)")
    s.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="with --tier private: a `medstrata run` override, e.g. seeds=[0] (their number is kept)")
    s.add_argument("--db", default=None)
    _meta_args(s)
    s.set_defaults(func=cmd_submit)
    lb = sub.add_parser("leaderboard", help="leaderboard maintenance: init, build, rescore, list")
    lb.add_argument("action", choices=["init", "build", "rescore", "list"])
    lb.add_argument("--run", default=None, help="init: the published run folder")
    lb.add_argument("--name", default=None, help="init: board name (default: the run's suite)")
    lb.add_argument("--board-file", default=None, help="init: a board JSON file instead of --run")
    lb.add_argument("--out", default=None, help="init: also write the board JSON; build: output folder")
    lb.add_argument("--board", default=None, help="build/list: board name (default: the only current one)")
    lb.add_argument("--db", default=None)
    lb.set_defaults(func=cmd_leaderboard)
