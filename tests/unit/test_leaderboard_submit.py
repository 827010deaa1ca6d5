"""Leaderboard: round trip run -> export-submission -> submit, code submissions, rescore, the schema
file, 20 concurrent submits and a submit killed inside its transaction.

One synthetic smoke run (2 seeds, 5 methods; every step the real code) is shared by the module.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.leaderboard_fixtures import (
    METHODS, copy_home, export_doc, make_board_home, random_doc, run_records, write,
)

pytestmark = pytest.mark.slow  # one synthetic run (~25 s) and a few subprocess batches

METRICS = ["ap", "p_at_10", "p_at_10_dcbench", "auroc", "ap_insample", "split_agreement", "f1", "ari", "ami",
           "worst_slice_acc", "match_slice", "match_complement"]


@pytest.fixture(scope="module")
def board_home(tmp_path_factory):
    return make_board_home(tmp_path_factory)


@pytest.fixture
def home(board_home, tmp_path, monkeypatch):
    """(home, run folder) of a private copy of the board home."""
    source, run = board_home
    dest = copy_home(source, tmp_path / "home", monkeypatch)
    return dest, dest / "runs" / run.name


def _stored(method: str) -> pd.DataFrame:
    from medstrata.leaderboard import store

    records, _ = store.frames(store.get_board())
    return records[records.method == method]


def _key(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["task_id", "stratum_column", "stratum_id"]).reset_index(drop=True)


def test_every_method_round_trips_to_the_numbers_of_the_run(home, tmp_path, capsys):
    from medstrata.cli import main

    _, run = home
    for method in METHODS:
        out = tmp_path / f"{method}.json"
        assert main(["export-submission", str(run), "--method", method, "--out", str(out)]) == 0
        assert main(["submit", str(out)]) == 0
        got, want = _key(_stored(method)), _key(run_records(run, method))
        assert len(got) == len(want) == 4  # 2 seeds x 2 stratum ids
        for col in METRICS:
            np.testing.assert_array_equal(got[col].to_numpy(dtype=float), want[col].to_numpy(dtype=float), err_msg=col)
        reps = want[["result_id", "task_id", "stratum_column", "stratum_id"]].merge(
            pd.read_parquet(run / "replicates.parquet"), on=["result_id", "stratum_column", "stratum_id"])
        for a, b in zip(got.ap_boot, _key(reps).ap_boot):
            np.testing.assert_array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    assert "accepted: submission #5" in capsys.readouterr().out


def test_the_oracle_is_stored_as_a_control_that_used_stratum_labels(home, tmp_path):
    from medstrata.leaderboard import store
    from medstrata.leaderboard.submit import submit_file

    _, run = home
    submit_file(write(export_doc(run, "oracle"), tmp_path / "o.json"))
    submit_file(write(export_doc(run, "random"), tmp_path / "r.json"))
    _, subs = store.frames(store.get_board())
    flags = subs.set_index("name")[["is_oracle", "is_control", "used_stratum_labels", "verified"]]
    assert flags.loc["oracle"].tolist() == [True, True, True, False]
    assert flags.loc["random"].tolist() == [False, True, False, False]


def test_a_code_submission_is_verified_and_scores_like_the_run(home):
    from medstrata.leaderboard import store
    from medstrata.leaderboard.submit import submit_code

    _, run = home
    out = submit_code("loss_rank", None, authors=["A. Maintainer"])
    _, subs = store.frames(store.get_board())
    assert subs.set_index("submission_id").loc[out["submission_id"], "verified"]
    got, want = _key(_stored("loss_rank")), _key(run_records(run, "loss_rank"))
    np.testing.assert_array_equal(got.ap.to_numpy(float), want.ap.to_numpy(float))
    for col in ("acc_wg_mitigated", "acc_wg_erm", "acc_wg_oracle_mitigated", "gap_closed"):  # same jobs as the run
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float))


def test_rescore_recomputes_from_the_payload_not_from_stored_numbers(home, tmp_path):
    from medstrata.leaderboard import store
    from medstrata.leaderboard.submit import rescore, submit_file

    _, run = home
    submit_file(write(export_doc(run, "confusion"), tmp_path / "c.json"))
    before = _key(_stored("confusion"))
    with sqlite3.connect(store.db_path()) as con:  # a corrupted stored number
        con.execute("UPDATE results SET record = json_set(record, '$.ap', 0.999), scorer_version = 'old'")
        con.execute("UPDATE submissions SET scorer_version = 'old'")
    assert _key(_stored("confusion")).ap.max() == 0.999
    assert rescore() == {"rescored": 1, "rows": 4}
    after = _key(_stored("confusion"))
    np.testing.assert_array_equal(after.ap.to_numpy(float), before.ap.to_numpy(float))
    with sqlite3.connect(store.db_path()) as con:
        assert {v for (v,) in con.execute("SELECT scorer_version FROM results")} == {store_scorer()}


def store_scorer() -> str:
    from medstrata.leaderboard.scorer import SCORER_VERSION

    return SCORER_VERSION


def test_the_schema_file_is_current_and_accepts_an_export(home):
    import jsonschema

    from medstrata.leaderboard.schema import schema_text

    path = Path(__file__).resolve().parents[2] / "leaderboard" / "schema" / "submission-v1.schema.json"
    assert path.read_text() == schema_text(), "regenerate leaderboard/schema/ (see its README)"
    schema = json.loads(path.read_text())
    doc = export_doc(home[1], "kmeans")
    jsonschema.Draft202012Validator(schema).validate(doc)
    doc["method"]["name"] = "<script>x</script>"
    assert not jsonschema.Draft202012Validator(schema).is_valid(doc)


def _cli(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.synthetic_cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])


def _env(home: Path) -> dict:
    return {**os.environ, "MEDSTRATA_HOME": str(home), "MEDSTRATA_OFFLINE": "1", "MEDSTRATA_THREADS": "1"}


def test_twenty_concurrent_submits_give_twenty_rows(home, tmp_path):
    from medstrata.leaderboard import store

    h, run = home
    base = export_doc(run, "random")
    files = [write(random_doc(base, f"concurrent{i}", f"conc/{i}"), tmp_path / f"s{i}.json") for i in range(20)]
    procs = [_cli("submit", str(f), env=_env(h)) for f in files]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, [e[-500:] for _, e in outs]
    with sqlite3.connect(store.db_path()) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 20
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 20 * 4
        ids = sorted(i for (i,) in con.execute("SELECT id FROM submissions"))
    assert ids == list(range(1, 21))


def test_a_submit_killed_inside_its_transaction_leaves_no_row(home, tmp_path):
    from medstrata.leaderboard import store
    from medstrata.leaderboard.submit import submit_file

    h, run = home
    doc = random_doc(export_doc(run, "random"), "killed", "kill")
    marker = tmp_path / "in_transaction"
    env = {**_env(h), store.HOLD_ENV: str(marker)}
    proc = _cli("submit", str(write(doc, tmp_path / "k.json")), env=env)
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with sqlite3.connect(store.db_path(), timeout=0.1) as con:  # the half-written rows are invisible ...
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 0
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(store.db_path()) as con:  # ... and gone after the kill
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM submissions").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM results").fetchone()[0] == 0
    out = submit_file(write(doc, tmp_path / "k2.json"))  # the store still works, the same file now lands
    assert out["submission_id"] >= 1 and out["rows"] == 4


def test_a_private_code_submission_is_stored_beside_the_public_one_and_rescored(home, monkeypatch):
    from medstrata.leaderboard import store
    from medstrata.leaderboard.submit import rescore, submit_code, submit_private

    secret = "s3cret-for-the-private-tier-test"
    monkeypatch.setenv("MEDSTRATA_PRIVATE_SECRET", secret)
    submit_code("loss_rank", None)
    out = submit_private("loss_rank", None, overrides=("seeds=[0,1]",))
    records, subs = store.frames(store.get_board())
    assert sorted(subs.tier) == ["private", "public"] and subs.verified.all()
    assert set(records.board_name) == {"loss_rank 1"}  # one label, two tiers: shown side by side
    private = records[records.tier == "private"]
    assert len(private) == out["rows"] == 4 and private.task_id.str.startswith("priv-").all()
    raw = b"".join(p.read_bytes() for p in store.db_path().parent.glob("leaderboard.db*"))
    public_tasks = set(records[records.tier == "public"].task_id)
    assert secret.encode() not in raw
    assert not any(t.encode() in raw for t in _private_task_ids(home[0]) - public_tasks)
    assert rescore()["rescored"] == 2
    from medstrata.cli import main

    site = home[0] / "site"
    assert main(["leaderboard", "build", "--out", str(site)]) == 0
    page = b"".join(p.read_bytes() for p in site.iterdir())
    assert secret.encode() not in page
    assert not any(t.encode() in page for t in _private_task_ids(home[0]) - public_tasks)
    assert b"pneumoniamnist-28-" not in page  # no sample id of any tier


def _private_task_ids(home: Path) -> set[str]:
    """Every task id built under ``home`` (the private ones are not in the public board)."""
    return {p.name for p in (home / "tasks").iterdir() if len(p.name) == 16}
    frame = pd.read_csv(site / "leaderboard.csv")
    row = frame[frame.board_name == "loss_rank 1"]
    assert len(row) == 1 and row.tiers.item() == "private, public"  # one row, both tiers side by side
    assert np.isfinite(row.ap_private.item()) and np.isfinite(row.ap_mean.item())


def test_cli_edge_cases_give_one_clear_error(home, tmp_path, capsys):
    from medstrata.cli import main

    assert main(["leaderboard", "build", "--out", str(tmp_path / "site")]) == 2
    assert "has no scored submissions yet" in capsys.readouterr().err
    assert main(["submit", str(tmp_path / "x.json"), "--db", str(tmp_path / "none.db")]) == 3
    assert main(["leaderboard", "list", "--db", str(tmp_path / "none.db")]) == 2
    assert "no leaderboard database at" in capsys.readouterr().err
    assert main(["submit", "--tier", "private"]) == 2
    assert "code submissions only" in capsys.readouterr().err
    assert main(["export-submission", str(home[1]), "--method", "nope", "--out", str(tmp_path / "o.json")]) == 2
    assert "has no results of method 'nope'" in capsys.readouterr().err
