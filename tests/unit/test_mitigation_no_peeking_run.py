"""No test peeking, at the level of a run's mitigation jobs on a task on disk.

``tests/unit/test_mitigation.py`` shows that ``mitigate()`` cannot read test labels or strata. Here
the same is shown for the jobs ``medstrata run`` executes (:func:`reference_job` and
:func:`method_mitigation_job`): a task is built and a reference model trained (two epochs, tiny
synthetic source), then the jobs run twice, once as they are and once with the test split's
labels (observed and clean, in the manifest and in the model's test outputs) and test strata
shuffled among the test rows. The chosen hyperparameters and steps, and the test probabilities
each head gives, must be identical; only the scores (which read the true test labels) may differ.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from medstrata import paths
from medstrata.runner import jobs as J
from medstrata.runner import mitigation as M
from tests.conftest import synthetic_home

STRATA = [("spurious_marker", {})]
METHODS = [{"name": "oracle", "params": {}}, {"name": "kmeans", "params": {}}, {"name": "loss_rank", "params": {}}]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    home = tmp_path_factory.mktemp("nopeek_home")
    with synthetic_home(home, (400, 160, 200)) as mp:
        task_id = J.task_job("pneumoniamnist", STRATA, 0, None, 28)
        model = J.model_job(task_id, {"arch": "small_cnn", "epochs": 2, "min_steps": 0}, 0, progress=False)
        yield home, task_id, model


def _shuffled_task(task, rng):
    """``task`` with the test rows' labels, clean labels and stratum columns permuted among them."""
    manifest = task.manifest.copy()
    idx = task.split_index("test")
    for col in ["label", "clean_label", *task.stratum_columns()]:
        values = manifest[col].to_numpy().copy()
        values[idx] = values[idx][rng.permutation(len(idx))]
        manifest[col] = values
    return dataclasses.replace(task, manifest=manifest)


def _run_jobs(home, task_id, model, strategy, monkeypatch, shuffle: bool):
    """(records, [test probs of each head, in scoring order]) of the reference job and each
    method's job, from an empty mitigation cache."""
    monkeypatch.setenv("MEDSTRATA_HOME", str(home))  # the autouse fixture gives each test its own
    shutil.rmtree(paths.cache_dir() / "mitigation", ignore_errors=True)
    real_task, real_problem = J._load_task(task_id), J.problem
    probs = []
    if shuffle:
        rng = np.random.default_rng(7)
        tampered = _shuffled_task(real_task, rng)
        perm = np.random.default_rng(8).permutation(len(real_task.split_index("test")))

        def problem(model_dir, split, embedding):
            p = real_problem(model_dir, split, embedding)
            return dataclasses.replace(p, labels=p.labels[perm]) if split == "test" else p

        monkeypatch.setattr(J, "_load_task", lambda tid: tampered)
        monkeypatch.setattr(J, "problem", problem)
    real_score = M._score
    monkeypatch.setattr(M, "_score", lambda task, test, p, col: probs.append(np.array(p)) or real_score(task, test, p, col))
    records = M.reference_job(task_id, model, 0, "penultimate", 5, strategy)
    for method in METHODS:
        key = J.result_key(task_id, model, method, 0, "penultimate", 5, 0)
        records += M.method_mitigation_job(task_id, model, method, 0, "penultimate", 5, 0, strategy, key)
    monkeypatch.undo()
    return records, probs


@pytest.mark.parametrize("strategy", ["group_dro", "dfr", "jtt_upweight"])
def test_run_jobs_choose_the_same_heads_when_test_labels_and_strata_are_shuffled(trained, strategy):
    home, task_id, model = trained
    with pytest.MonkeyPatch.context() as monkeypatch:
        a, probs_a = _run_jobs(home, task_id, model, strategy, monkeypatch, shuffle=False)
    with pytest.MonkeyPatch.context() as monkeypatch:
        b, probs_b = _run_jobs(home, task_id, model, strategy, monkeypatch, shuffle=True)
    chosen = ("erm_params", "oracle_params", "mitigation_params")
    assert [{k: r[k] for k in chosen if k in r} for r in a] == [{k: r[k] for k in chosen if k in r} for r in b]
    assert len(probs_a) == len(probs_b) >= 3 + len(METHODS)
    for pa, pb in zip(probs_a, probs_b):
        np.testing.assert_array_equal(pa, pb)
    # the shuffle reached the scorer: the test scores read the (shuffled) true test labels
    assert any(ra.get("acc_wg_erm") != rb.get("acc_wg_erm") or ra.get("acc_wg_mitigated") != rb.get("acc_wg_mitigated")
               for ra, rb in zip(a, b))
