"""The leaderboard's private tier: secret-derived tasks, opaque ids, records that reveal nothing.

Everything runs on tiny synthetic sources (``tests.conftest.synthetic_source``); the one end-to-end
test trains one two-epoch model of the smoke suite on it.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from medstrata.errors import PrivateSecretError, SpecError
from medstrata.leaderboard import private as P
from medstrata.leaderboard.private_plan import private_plan
from medstrata.problem import Problem
from medstrata.strata import declaration
from medstrata.tasks.spec import resolve_spec
from tests.conftest import synthetic_home, synthetic_source

SECRET = "maintainer-secret-0123456789abcdef"
OTHER = "maintainer-secret-fedcba9876543210"
SIZES = (400, 160, 200)


@pytest.fixture(scope="module")
def quick():
    return P.private_config("random", "quick")


def _task_ids(jobs: list[dict]) -> list[str]:
    """Task ids of a plan on the synthetic sources (spec + source hash; nothing is built)."""
    return [resolve_spec(j["dataset"], 28, j["seed"], j["target"], j["strata"]).task_id(
        synthetic_source(j["dataset"], n=(8, 8, 8)).sha256) for j in jobs]


def test_same_secret_gives_the_same_plan_and_task_ids(quick):
    a, b = private_plan(SECRET, quick), private_plan(SECRET, quick)
    assert a == b and _task_ids(a) == _task_ids(b)
    assert len(set(_task_ids(a))) == len(a)


def test_another_secret_gives_other_tasks(quick):
    a, b = private_plan(SECRET, quick), private_plan(OTHER, quick)
    assert not set(_task_ids(a)) & set(_task_ids(b))
    assert [j["strata"] for j in a] != [j["strata"] for j in b]


def test_plan_keeps_the_public_cells_and_draws_declared_values(quick):
    from medstrata.runner.app import plan

    public, private = plan(quick), private_plan(SECRET, quick)
    cells = lambda jobs: [(j["dataset"], j["target"], [k for k, _ in j["strata"]]) for j in jobs]
    assert cells(public) == cells(private)
    assert {j["seed"] for j in public}.isdisjoint(j["seed"] for j in private)
    for job in private:
        assert job.keys() >= public[0].keys() and job["methods"] == public[0]["methods"]
        for kind, params in job["strata"]:
            decl = declaration(kind)
            assert params[decl["knob"]] in decl["severities"]


@pytest.mark.parametrize("secret", [SECRET, OTHER], ids=["secret_a", "secret_b"])
def test_every_planned_task_builds_on_the_synthetic_source(quick, secret):
    from medstrata.tasks.build import build_task

    jobs = [j for j in private_plan(secret, quick) if j["replicate"] == 0]
    for job in jobs:
        spec = resolve_spec(job["dataset"], 28, job["seed"], job["target"], job["strata"])
        n = (120, 60, 60) if job["dataset"].endswith("3d") else SIZES
        built = build_task(spec, synthetic_source(job["dataset"], n=n))
        assert len(built.manifest) > 0


def _ids(flag: str = "bloodmnist", split: str = "test", n: int = 3421) -> list[str]:
    return [f"{flag}-28-{split}-{i:06d}" for i in range(n)]


def test_opaque_ids_are_unique_stable_and_carry_no_index():
    ids = _ids()
    opaque = [P.opaque_id(SECRET, s) for s in ids]
    assert len(set(opaque)) == len(ids)
    assert opaque == [P.opaque_id(SECRET, s) for s in ids]
    assert all(re.fullmatch(r"p-[0-9a-f]{24}", o) for o in opaque)
    assert not any("blood" in o or o.endswith(s[-6:]) for o, s in zip(opaque, ids))
    assert [P.opaque_id(OTHER, s) for s in ids] != opaque


def test_without_the_secret_no_opaque_id_maps_to_an_index():
    """Brute force over every index of every split with a wrong secret finds no private id."""
    opaque = {P.opaque_id(SECRET, s) for s in _ids()}
    guesses = {P.opaque_id(OTHER, s) for split in ("train", "val", "test") for s in _ids(split=split)}
    guesses |= {P.opaque_id("", s) for s in _ids()}
    assert not opaque & guesses


def _problem(n: int = 40) -> Problem:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=n)
    return Problem(np.asarray(_ids(n=n), dtype=object), np.arange(n) % 3, probs,
                   rng.random(n), rng.normal(size=(n, 4)).astype(np.float32), "penultimate", probs.copy())


def test_private_problem_hides_ids_and_row_order_and_maps_back():
    problem = _problem()
    hidden = P.private_problem(problem, SECRET)
    assert all(s.startswith("p-") for s in hidden.sample_ids)
    assert list(hidden.sample_ids) == sorted(hidden.sample_ids)  # row order: by opaque id, not by index
    order = [list(problem.sample_ids).index(s) for s in P.true_ids(hidden.sample_ids, problem.sample_ids, SECRET)]
    assert order != sorted(order)
    for name in ("labels", "probs", "losses", "embeddings", "id_probs"):
        np.testing.assert_array_equal(getattr(hidden, name), getattr(problem, name)[order])
    text = repr([getattr(hidden, f) for f in hidden.__dataclass_fields__])
    assert "bloodmnist" not in text and "-test-" not in text
    scores = np.arange(len(order), dtype=float)[:, None] / len(order)
    back = P.restore_rows(scores, problem, SECRET)
    np.testing.assert_array_equal(back[order], scores)
    assert SECRET not in repr(P.renaming(SECRET))


def test_missing_secret_is_a_clear_error():
    with pytest.raises(PrivateSecretError, match="MEDSTRATA_PRIVATE_SECRET.*MEDSTRATA_PRIVATE_SECRET_FILE"):
        P.load_secret({})
    with pytest.raises(PrivateSecretError, match="too short"):
        P.load_secret({P.SECRET_ENV: "short"})
    with pytest.raises(PrivateSecretError, match="only one"):
        P.load_secret({P.SECRET_ENV: SECRET, P.SECRET_FILE_ENV: "/x"})
    assert P.load_secret({P.SECRET_ENV: SECRET}) == SECRET


def test_secret_file_outside_the_repository_is_read(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n")
    assert P.load_secret({P.SECRET_FILE_ENV: str(path)}) == SECRET
    with pytest.raises(PrivateSecretError, match="no such file") as err:
        P.load_secret({P.SECRET_FILE_ENV: str(tmp_path / "missing")})
    assert SECRET not in str(err.value)


def test_secret_file_inside_the_checkout_is_refused(tmp_path):
    repo = Path(P.__file__).resolve().parents[3]
    assert (repo / ".git").exists()
    path = repo / "src" / "medstrata" / "leaderboard" / "__init__.py"  # any file of the checkout
    with pytest.raises(PrivateSecretError, match="inside the git checkout") as err:
        P.load_secret({P.SECRET_FILE_ENV: str(path)})
    assert "module plan" not in str(err.value)  # the file's content is not echoed


def test_an_unregistered_method_or_override_text_is_refused():
    from medstrata.registry import UnknownNameError

    for name in ("no_such_method", "random],seeds=[1"):
        with pytest.raises(UnknownNameError, match="registered methods only"):
            P.private_config(name)


@pytest.fixture(scope="module")
def private_run(tmp_path_factory):
    """run_private of random and loss_rank on the smoke suite (one replicate), synthetic source."""
    from medstrata.runner import jobs

    home = tmp_path_factory.mktemp("private_home")
    with synthetic_home(home, SIZES):
        records = {m: P.run_private(m, SECRET, suite="smoke", overrides=("seeds=[0]",)) for m in ("random", "loss_rank")}
        gated = io.StringIO()
        with contextlib.redirect_stdout(gated), pytest.raises(SpecError, match="failed the validity gates"):
            P.run_private("random", SECRET, suite="smoke", overrides=("seeds=[0]", "suite.gates=exclude"))
        cfg = P.private_config("random", "smoke", ("seeds=[0]",))
        job = private_plan(SECRET, cfg)[0]
        task_id = next(p.name for p in (home / "tasks").iterdir() if not p.name.startswith("."))
        model = jobs.model_job(task_id, dict(cfg.suite.model), job["seed"], progress=False)
        method = {"name": "loss_rank", "params": {}}
        public = jobs.method_job(task_id, model, method, job["seed"], "penultimate", n_slices=5)
        renamed = jobs.method_job(task_id, model, method, job["seed"], "penultimate", n_slices=5,
                                  rename=P.renaming(SECRET))
    return records, job, task_id, public, renamed, gated.getvalue()


def test_run_private_records_say_private_and_reveal_nothing(private_run):
    records, job, task_id, *_ = private_run
    text = json.dumps(records)
    for rows in records.values():
        assert rows and all(r["tier"] == "private" and r["task_id"].startswith("priv-") for r in rows)
        assert all(set(r) <= {"tier", "secret_id", "task_id", "result_id", "seed", "random_state",
                              *P.PUBLIC_COLUMNS} for r in rows)
        assert {r["secret_id"] for r in rows} == {P.secret_id(SECRET)} != {P.secret_id(OTHER)}
        assert {r["seed"] for r in rows} == {0} and {r["dataset"] for r in rows} == {"pneumoniamnist"}
        assert all(np.isfinite(r["ap"]) for r in rows)
        # the mitigation step ran on the private task too (the smoke suite sets group_dro)
        assert all(r["mitigation"] == "group_dro" and 0.0 <= r["acc_wg_mitigated"] <= 1.0
                   and 0.0 <= r["acc_wg_oracle_mitigated"] <= 1.0 and "gap_closed" in r for r in rows)
    assert SECRET not in text and task_id not in text and "pneumoniamnist-28-" not in text
    for hidden in ("stratum_params", "task_strata", "model_id", "prevalence", "n_members", str(job["seed"]),
                   '"tag"', "distractor", "positive_class"):
        assert hidden not in text


def test_renaming_keeps_scores_of_an_order_free_method_and_its_own_cache_key(private_run):
    _, _, _, public, renamed, _ = private_run
    assert public[0]["result_id"] != renamed[0]["result_id"]
    for a, b in zip(public, renamed):
        assert a["stratum_id"] == b["stratum_id"] and a["ap"] == pytest.approx(b["ap"])


def test_gates_exclude_failing_private_tasks_without_describing_them(private_run):
    """The smoke suite's 2-epoch models do no harm: with gates=exclude every private task fails,
    and the message counts them without naming a stratum parameter or seed."""
    _, job, *_, out = private_run
    assert "1 of 1 task(s) EXCLUDED" in out and "held-out tasks" in out
    assert "rho" not in out and "marker" not in out and str(job["seed"]) not in out


def test_pixel_embeddings_are_refused():
    with pytest.raises(SpecError, match="pixel_pca.*official images"):
        P.private_config("random", "smoke", ("embedding=pixel_pca",))


class _Recorder:
    """A stand-in fitted slicer that records the Problems it scores: (n, 2) scores from its ids."""

    def __init__(self) -> None:
        self.seen: list[Problem] = []

    def predict_proba(self, problem: Problem) -> np.ndarray:
        self.seen.append(problem)
        return np.stack([[len(s) % 2, int(s[-1], 16) / 15] for s in problem.sample_ids.tolist()]).astype(float)


def test_mitigation_slicer_sees_opaque_ids_only_and_rows_come_back_by_id():
    """The private tier's mitigation step scores train/val through RenamedSlicer: the method sees
    opaque ids in their own order, and its scores are put back on the real rows by id."""
    from medstrata.runner.mitigation import RenamedSlicer

    problem, rename = _problem(), P.renaming(SECRET)
    recorder = _Recorder()
    scores = RenamedSlicer(recorder, rename).predict_proba(problem)
    seen = recorder.seen[0]
    assert all(s.startswith("p-") for s in seen.sample_ids.tolist())
    assert seen.sample_ids.tolist() == sorted(seen.sample_ids.tolist())
    assert not set(seen.sample_ids.tolist()) & set(problem.sample_ids.tolist())
    back = dict(zip(seen.sample_ids.tolist(), recorder.predict_proba(seen)))
    for i, real in enumerate(problem.sample_ids.tolist()):
        np.testing.assert_array_equal(scores[i], back[P.opaque_id(SECRET, real)])
