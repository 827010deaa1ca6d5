"""Worst-group metrics against brute-force group loops and scikit-learn AUROC."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from medstrata.scoring import worst_group_metrics

N_CASES = 100


def random_case(i: int):
    """Case i: C in {2, 3, 4} classes, strata 0..3, random train group sizes, some missing."""
    rng = np.random.default_rng(5000 + i)
    n, c = int(rng.integers(40, 200)), int(rng.integers(2, 5))
    labels = rng.integers(0, c, n)
    labels[:c] = np.arange(c)  # every class present
    probs = rng.dirichlet(np.ones(c), n)
    probs[np.arange(n), labels] += rng.uniform(0, 0.5, n)  # some signal
    probs /= probs.sum(axis=1, keepdims=True)
    strata = np.where(rng.random(n) < 0.6, 0, rng.integers(1, 4, n))
    train = {(a, b): int(rng.integers(0, 100))
             for a in range(c) for b in range(4) if rng.random() < 0.8}
    train[(0, 0)] = 100  # the largest group always has a training weight
    return labels, probs, strata, train


def brute_force(labels, probs, strata, train, min_size):
    """Independent computation: Python loops over samples, sklearn for AUROC."""
    members, correct = defaultdict(list), defaultdict(int)
    for i, (y, s) in enumerate(zip(labels.tolist(), strata.tolist())):
        members[(y, s)].append(i)
        correct[(y, s)] += int(max(range(probs.shape[1]), key=lambda j: (probs[i, j], -j)) == y)
    used = [g for g in sorted(members) if len(members[g]) >= min_size]
    acc = {g: correct[g] / len(members[g]) for g in used}
    aucs = {}
    for g in used:
        neg = [i for i in range(len(labels)) if labels[i] != g[0]]
        idx = members[g] + neg
        aucs[g] = roc_auc_score([1] * len(members[g]) + [0] * len(neg), probs[idx, g[0]])
    overall = sum(correct.values()) / len(labels)
    if probs.shape[1] == 2:
        auc_avg = roc_auc_score(labels, probs[:, 1])
    else:
        auc_avg = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    total_w = sum(train.get(g, 0) for g in used)
    return {
        "acc_avg": overall, "acc_wg": min(acc.values()), "auroc_wg": min(aucs.values()),
        "gap_rel": (overall - min(acc.values())) / overall, "auroc_avg": auc_avg,
        "acc_group_mean": sum(acc.values()) / len(acc),
        "acc_adjusted": sum(train.get(g, 0) * acc[g] for g in used) / total_w,
        "worst_group": "y{}_s{}".format(*min(used, key=lambda g: (acc[g], g))),
        "n_groups": len(used), "n_groups_skipped": len(members) - len(used),
    }


@pytest.mark.parametrize("i", range(N_CASES))
def test_agrees_with_brute_force(i):
    labels, probs, strata, train = random_case(i)
    min_size = 1 if i % 2 else 4
    mine = worst_group_metrics(labels, probs, strata, train, min_group_size=min_size)
    ref = brute_force(labels, probs, strata, train, min_size)
    for key, value in ref.items():
        if isinstance(value, str) or key.startswith("n_"):
            assert mine[key] == value, key
        else:
            assert abs(mine[key] - value) < 1e-9, key


def test_per_group_keys_and_counter_input():
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([[.9, .1], [.2, .8], [.3, .7], [.6, .4], [.1, .9]])
    strata = np.array([0, 1, 0, 0, 2])
    out = worst_group_metrics(labels, probs, strata, Counter({(0, 0): 3, (1, 0): 1}))
    assert out["n_y1_s0"] == 2 and out["acc_y1_s0"] == 0.5 and out["acc_y0_s1"] == 0.0
    assert out["acc_adjusted"] == pytest.approx((3 * 1.0 + 1 * 0.5) / 4)
    assert "acc_y0_s0" not in worst_group_metrics(labels, probs, strata, per_group=False)


def test_worst_group_tie_goes_to_smallest_key():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[.1, .9], [.9, .1], [.9, .1], [.1, .9]])
    out = worst_group_metrics(labels, probs, np.array([1, 1, 0, 0]))
    assert out["acc_wg"] == 0.5 and out["worst_group"] == "y0_s1"


def test_no_train_sizes_gives_nan_adjusted_and_skipping_everything_gives_nan():
    labels, probs, strata, _ = random_case(0)
    out = worst_group_metrics(labels, probs, strata, min_group_size=10_000)
    assert math.isnan(out["acc_adjusted"]) and math.isnan(out["acc_wg"])
    assert out["n_groups"] == 0 and out["worst_group"] == "" and out["n_groups_skipped"] > 0


def test_single_class_in_test_has_no_auroc():
    out = worst_group_metrics(np.array([1, 1, 1]), np.array([[.2, .8], [.6, .4], [.1, .9]]),
                              np.array([0, 1, 1]))
    assert math.isnan(out["auroc_avg"]) and math.isnan(out["auroc_wg"])
    assert out["acc_wg"] == 0.5


def test_invalid_inputs_raise():
    with pytest.raises(ValueError):
        worst_group_metrics(np.array([0, 2]), np.array([[.5, .5], [.5, .5]]), np.array([0, 0]))
    with pytest.raises(ValueError):
        worst_group_metrics(np.array([0.0, 1.0]), np.array([[.5, .5], [.5, .5]]), np.array([0, 0]))
    with pytest.raises(ValueError):
        worst_group_metrics(np.array([0, 1]), np.array([.5, .5]), np.array([0, 0]))
