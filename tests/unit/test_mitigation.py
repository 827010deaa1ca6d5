"""Mitigation with discovered groups on tiny planted data: it works, random groups do not help, no
step reads test labels or strata, and the group rule and gap closed follow their definitions."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from medstrata.errors import SpecError
from medstrata.methods import get_method
from medstrata.mitigation import get_strategy, list_strategies, make_split, mitigate, slices_of
from medstrata.mitigation.data import Split
from medstrata.scoring import worst_group_metrics
from medstrata.scoring.gap_closed import gap_closed, gap_closed_over_seeds

from tests.unit.mitigation_data import planted_task, truth_of


def _acc_wg(task, result) -> float:
    test, strata = task["test"]
    return worst_group_metrics(test.labels, result.test_probs, strata)["acc_wg"]


def _run(task, strategy, method=None, **params):
    train, val, test = (task[s][0] for s in ("train", "val", "test"))
    slicer = None
    if method is not None:
        extra = {"truth": truth_of(task)} if method == "oracle" else {}
        slicer = get_method(method, **params, **extra).fit(val)
    return mitigate(strategy, train, val, test, slicer, key="unit")


@pytest.fixture(scope="module")
def task():
    return planted_task(seed=0)


@pytest.mark.parametrize("strategy", ["group_dro", "dfr", "jtt_upweight"])
def test_oracle_groups_beat_erm_on_a_planted_spurious_stratum(task, strategy):
    erm = _acc_wg(task, _run(task, "erm"))
    oracle = _acc_wg(task, _run(task, strategy, "oracle", n_slices=2))
    assert erm < 0.4, f"the planted correlate should hurt ERM's worst group (acc_wg {erm:.3f})"
    assert oracle - erm > 0.3, f"{strategy} with oracle groups: {oracle:.3f} vs ERM {erm:.3f}"


def test_random_groups_close_about_none_of_the_gap():
    m, e, o = [], [], []
    for seed in range(5):
        task = planted_task(seed, n_train=1000, n_val=400, n_test=600)
        e.append(_acc_wg(task, _run(task, "erm")))
        o.append(_acc_wg(task, _run(task, "group_dro", "oracle", n_slices=2)))
        m.append(_acc_wg(task, _run(task, "group_dro", "random", n_slices=5, random_state=seed)))
    s = gap_closed_over_seeds(m, e, o, "unit-random")
    assert s["defined"] and s["oracle"] - s["erm"] > 0.3
    # random groups carry no information about the stratum: they close no positive share of the
    # gap (their interval reaches 0 or below) and stay far from the oracle's 1
    assert abs(s["gap_closed"]) < 0.25 and s["ci_low"] <= 0.0, s


@pytest.mark.parametrize("strategy", list_strategies())
def test_no_step_reads_test_labels_or_strata(task, strategy):
    """Shuffled test labels and test strata (the oracle's truth included): the chosen
    hyperparameters, the fitted head and the test probabilities stay identical."""
    rng = np.random.default_rng(1)
    test, strata = task["test"]
    shuffled = {**task, "test": (replace(test, labels=rng.permutation(test.labels)), rng.permutation(strata))}
    for method in ("oracle", "kmeans"):
        a = _run(task, strategy, method, n_slices=2)
        b = _run(shuffled, strategy, method, n_slices=2)
        assert a.params == b.params and a.val_score == b.val_score
        np.testing.assert_array_equal(a.head_params, b.head_params)
        np.testing.assert_array_equal(a.test_probs, b.test_probs)


def test_dfr_trains_on_val_only(task):
    train, val, test = (task[s][0] for s in ("train", "val", "test"))
    noisy = replace(train, embeddings=np.zeros_like(train.embeddings))
    a = mitigate("dfr", train, val, test, None, key="unit")
    b = mitigate("dfr", noisy, val, test, None, key="unit")
    np.testing.assert_array_equal(a.head_params, b.head_params)


def test_group_rule_worked_example():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.4], [0.5, 0.5, 0.0], [0.1, 0.7, 0.8]])
    assert slices_of(scores).tolist() == [0, 3, 0, 2]  # 3 = the rest: no score reaches 0.5


def test_groups_and_flags_of_a_split():
    task = planted_task(seed=0, n_train=20, n_val=10, n_test=10)
    problem = task["train"][0]
    scores = np.zeros((problem.n, 2))
    scores[:5, 1] = 1.0  # slice 1 claims the first five samples, the rest go to the rest group (2)
    split = make_split(problem, scores)
    expected = problem.labels * 3 + np.where(np.arange(problem.n) < 5, 1, 2)
    np.testing.assert_array_equal(split.groups, expected)
    flagged = split.flagged()
    for c in (0, 1):
        in_c = problem.labels == c
        largest = np.bincount(split.groups[in_c]).argmax()
        np.testing.assert_array_equal(flagged[in_c], split.groups[in_c] != largest)
    np.testing.assert_array_equal(make_split(problem).flagged(), ~problem.correct)


def test_gap_closed_worked_examples():
    value, defined = gap_closed(0.70, 0.60, 0.80)
    assert defined and value == pytest.approx(0.5)
    assert gap_closed(0.55, 0.60, 0.80)[0] == pytest.approx(-0.25)
    for oracle in (0.61, 0.619, 0.50):  # oracle - ERM below 2 points, or negative: undefined
        value, defined = gap_closed(0.70, 0.60, oracle)
        assert math.isnan(value) and not defined
    assert gap_closed(0.70, 0.60, 0.62)[1]  # exactly 2 points is defined


def test_gap_closed_over_seeds_is_the_ratio_of_the_means():
    s = gap_closed_over_seeds([0.70, 0.74, 0.66], [0.60, 0.62, 0.58], [0.80, 0.80, 0.80], "unit")
    assert s["gap_closed"] == pytest.approx((0.70 - 0.60) / (0.80 - 0.60))
    assert s["ci_valid"] and s["ci_low"] <= s["gap_closed"] <= s["ci_high"]
    again = gap_closed_over_seeds([0.70, 0.74, 0.66], [0.60, 0.62, 0.58], [0.80, 0.80, 0.80], "unit")
    assert (again["ci_low"], again["ci_high"]) == (s["ci_low"], s["ci_high"])
    flat = gap_closed_over_seeds([0.7, 0.7, 0.7], [0.6, 0.6, 0.6], [0.61, 0.61, 0.61], "unit")
    assert not flat["defined"] and math.isnan(flat["gap_closed"]) and not flat["ci_valid"]
    two = gap_closed_over_seeds([0.7, 0.7], [0.6, 0.6], [0.8, 0.8], "unit")
    assert two["defined"] and not two["ci_valid"]  # fewer than 3 seeds: no interval


def test_records_get_gap_closed_and_the_undefined_flag():
    from medstrata.runner.mitigation import add_gap_closed

    df = pd.DataFrame({"acc_wg_mitigated": [0.7, 0.7], "acc_wg_erm": [0.6, 0.6],
                       "acc_wg_oracle_mitigated": [0.8, 0.61], "acc_wg_nogroups": [0.65, 0.6]})
    out = add_gap_closed(df)
    assert out.gap_closed_erm[0] == pytest.approx(0.5) and out.gap_closed_erm_defined.tolist() == [True, False]
    assert math.isnan(out.gap_closed_erm[1]) and math.isnan(out.gap_closed[1])
    assert out.gap_closed[0] == pytest.approx((0.7 - 0.65) / (0.8 - 0.65))
    assert out.gap_closed_defined.tolist() == [True, False]


def test_suite_mitigation_key():
    from medstrata.runner.mitigation import strategy_of

    assert strategy_of({}) == "group_dro"
    assert strategy_of({"mitigation": "none"}) is None
    assert strategy_of({"mitigation": "dfr"}) == "dfr"
    with pytest.raises(SpecError, match="suite.mitigation"):
        strategy_of({"mitigation": "gdro"})


def test_split_rejects_unsorted_duplicates_and_bad_labels():
    ids = np.array(["a", "a"], dtype=object)
    with pytest.raises(Exception, match="unique"):
        Split(ids, np.zeros((2, 3)), np.array([0, 1]), 2, None, np.zeros(2, bool))
    with pytest.raises(Exception, match="labels"):
        Split(np.array(["a", "b"], dtype=object), np.zeros((2, 3)), np.array([0, 2]), 2, None, np.zeros(2, bool))


def test_strategy_key_changes_only_keyed_draws(task):
    train, val = (make_split(task[s][0], np.eye(2)[task[s][1]]) for s in ("train", "val"))
    a, b = get_strategy("group_dro", key="x").fit(train, val), get_strategy("group_dro", key="y").fit(train, val)
    np.testing.assert_array_equal(a.head_.params(), b.head_.params())  # group_dro draws nothing
    c, d = get_strategy("dfr", key="x").fit(train, val), get_strategy("dfr", key="y").fit(train, val)
    assert not np.array_equal(c.head_.params(), d.head_.params())  # dfr's halves and subsamples are keyed


def test_train_subsample_is_keyed_by_sample_id_and_capped(monkeypatch):
    """The heads of a task train on the same capped rows whatever the row order; small train splits
    are kept whole."""
    from medstrata.runner import mitigation as RM

    train, _ = planted_task()["train"]
    assert RM.train_subsample(train, "task-a") is train  # 2000 rows <= MAX_TRAIN
    monkeypatch.setattr(RM, "MAX_TRAIN", 500)
    a = RM.train_subsample(train, "task-a")
    rev = RM.train_subsample(train.take(np.arange(train.n)[::-1]), "task-a")
    assert a.n == 500 and set(a.sample_ids) == set(rev.sample_ids)
    assert set(RM.train_subsample(train, "task-b").sample_ids) != set(a.sample_ids)
    assert 0.4 < a.labels.mean() < 0.6  # a uniform draw keeps the class mix


def test_kind_table_worked_example():
    """Two units of one kind (paired oracle - ERM per seed: +0.1, +0.3, +0.2 and -0.1, 0.0, +0.1)
    and one unit of another kind that always loses 0.2: the kind means, intervals and verdicts
    checked against a direct computation."""
    import pandas as pd

    from medstrata.runner.mitigation_report import kind_table

    rows = []
    for params, kind, diffs in (("a", "subtle_feature", (0.1, 0.3, 0.2)), ("b", "subtle_feature", (-0.1, 0.0, 0.1)),
                                ("c", "label_noise", (-0.2, -0.2, -0.2))):
        for seed, d in enumerate(diffs):
            rows.append({"dataset": "bloodmnist", "target": "default", "kind": kind, "stratum_params": params,
                         "stratum_column": f"stratum_{kind}", "seed": seed, "acc_wg_erm": 0.5,
                         "acc_wg_oracle_mitigated": 0.5 + d})
    table = kind_table(pd.DataFrame(rows)).set_index("kind")
    subtle, noise = table.loc["subtle_feature"], table.loc["label_noise"]
    assert subtle["units"] == 2 and subtle["seeds"] == 6 and subtle["units improved"] == "1 of 2"
    assert subtle["oracle - ERM"] == pytest.approx((0.2 + 0.0) / 2)
    # the bootstrap mean of unit a lies in [0.1, 0.3] and of unit b in [-0.1, 0.1]: their average in [0, 0.2]
    assert 0.0 <= subtle["ci_low"] < 0.1 < subtle["ci_high"] <= 0.2
    assert noise["oracle - ERM"] == pytest.approx(-0.2) and noise["verdict"] == "hurts"
    assert noise["ci_low"] == pytest.approx(-0.2) and noise["ci_high"] == pytest.approx(-0.2)


def test_group_dro_starts_from_the_erm_head_and_never_selects_below_it(task):
    """group_dro v2: the erm head of the same rows is its step-0 candidate, so the kept head's val
    selection score (worst discovered group) is at least the erm head's on the same groups."""
    from medstrata.mitigation.head import selection_score

    train, val = (make_split(task[s][0], _oracle_scores(task, s)).sorted() for s in ("train", "val"))
    dro = get_strategy("group_dro", key="unit").fit(train, val)
    erm_head = get_strategy("erm", key="unit").fit(train, val).head_
    assert dro._erm.params().tolist() == erm_head.params().tolist()
    assert dro.val_score_ >= selection_score(erm_head, val)


def _oracle_scores(task, split):
    val = task["val"][0]
    oracle = get_method("oracle", n_slices=2, truth=truth_of(task)).fit(val)
    return oracle.predict_proba(task[split][0])


def test_erm_head_is_memoised_by_content_and_equals_a_fresh_fit(task):
    """group_dro's start head is computed once per process for the same inputs; the memoised head
    equals a refit bit for bit, and other inputs (another key, other labels) get their own head."""
    from medstrata.mitigation import group_dro as G

    train, val = (make_split(task[s][0]).sorted() for s in ("train", "val"))
    G._ERM_HEADS.clear()
    first = G.erm_head("unit", train, val)
    assert G.erm_head("unit", train, val) is first and len(G._ERM_HEADS) == 1
    fresh = get_strategy("erm", key="unit").fit(train, val).head_
    assert first.params().tolist() == fresh.params().tolist()
    flipped = replace(train, labels=1 - train.labels)
    assert G.erm_head("unit", flipped, val) is not first and len(G._ERM_HEADS) == 2
    G.erm_head("other", train, val)
    assert len(G._ERM_HEADS) == 3
