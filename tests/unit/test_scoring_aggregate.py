"""Aggregation over seeds: summary statistics, keyed bootstrap interval, tie-aware ranking."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from medstrata.scoring import interval_ranks, rank_methods, summarize

N_CASES = 100


@pytest.mark.parametrize("i", range(N_CASES))
def test_mean_std_agree_with_statistics_module(i):
    rng = np.random.default_rng(9000 + i)
    values = rng.normal(rng.uniform(-1, 1), rng.uniform(0.01, 2), int(rng.integers(3, 12)))
    out = summarize(values, key=("case", i), n_boot=200)
    assert abs(out["mean"] - statistics.fmean(values.tolist())) < 1e-9
    assert abs(out["std"] - statistics.stdev(values.tolist())) < 1e-9
    eps = 1e-12  # a resampled mean of equal values can differ from them in the last bit
    assert min(values) - eps <= out["ci_low"] <= out["mean"] <= out["ci_high"] <= max(values) + eps
    assert out["n"] == len(values) and out["ci_valid"]


def test_bootstrap_is_deterministic_per_key():
    values = np.random.default_rng(1).normal(size=8)
    a = summarize(values, key=("m", "t"))
    b = summarize(values.copy(), key=("m", "t"))
    c = summarize(values, key=("m", "other"))
    assert (a["ci_low"], a["ci_high"]) == (b["ci_low"], b["ci_high"])
    assert (a["ci_low"], a["ci_high"]) != (c["ci_low"], c["ci_high"])
    assert summarize(values, key="k") == summarize(values, key=("k",))


def test_bootstrap_coverage_is_near_nominal():
    true_mean, hits, reps = 0.3, 0, 300
    for r in range(reps):
        sample = np.random.default_rng(20_000 + r).normal(true_mean, 1.0, 20)
        out = summarize(sample, key=("coverage", r), n_boot=500)
        hits += out["ci_low"] <= true_mean <= out["ci_high"]
    # The percentile interval under-covers slightly at n = 20 (~0.93); a broken one is far off.
    assert 0.88 <= hits / reps <= 0.98


def test_interval_narrows_with_more_seeds():
    rng = np.random.default_rng(3)
    small = summarize(rng.normal(size=5), key="w")
    large = summarize(rng.normal(size=500), key="w")
    assert large["ci_high"] - large["ci_low"] < small["ci_high"] - small["ci_low"]


@pytest.mark.parametrize("values", [[], [0.4], [0.4, 0.5], [0.4, np.nan, 0.5]])
def test_fewer_than_three_values_give_nan_interval_and_flag(values):
    out = summarize(values, key="few")
    assert math.isnan(out["ci_low"]) and math.isnan(out["ci_high"])
    assert not out["ci_valid"] and "fewer than 3" in out["ci_reason"]


def test_nan_values_are_dropped_and_counted():
    out = summarize([0.1, np.nan, 0.2, 0.3], key="nan")
    assert out["n"] == 3 and out["n_nan"] == 1 and out["mean"] == pytest.approx(0.2)


def test_interval_ranks_ties_and_direction():
    low, high = [0.80, 0.75, 0.70, 0.50], [0.90, 0.85, 0.78, 0.60]
    assert interval_ranks(low, high).tolist() == [1, 1, 2, 4]
    # Lower is better: D is best, then C; B overlaps C; A is separated from C and D only.
    assert interval_ranks(low, high, higher_is_better=False).tolist() == [3, 2, 2, 1]
    ranks = interval_ranks([0.1, np.nan, 0.5], [0.2, np.nan, 0.6])
    assert ranks[0] == 2 and math.isnan(ranks[1]) and ranks[2] == 1


def _records(spec: dict[str, list[float]], tasks=("x", "y")) -> pd.DataFrame:
    rows = [(m, t, s, v + 0.1 * ti) for m, vals in spec.items() for ti, t in enumerate(tasks)
            for s, v in enumerate(vals)]
    return pd.DataFrame(rows, columns=["method", "task", "seed", "acc_wg"])


def test_rank_methods_separated_and_tied():
    df = _records({"good": [0.9, 0.91, 0.92], "also_good": [0.905, 0.9, 0.915],
                   "bad": [0.5, 0.52, 0.51]})
    out = rank_methods(df, "acc_wg", key="t")
    assert out["method"].tolist()[-1] == "bad"
    assert out.set_index("method")["rank"].to_dict() == {"good": 1, "also_good": 1, "bad": 3}
    flipped = rank_methods(df, "acc_wg", higher_is_better=False, key="t")
    assert flipped.set_index("method")["rank"].to_dict() == {"bad": 1, "good": 2, "also_good": 2}


def test_rank_methods_is_deterministic_and_checks_input():
    df = _records({"a": [0.1, 0.5, 0.3, 0.2], "b": [0.2, 0.4, 0.35, 0.1]})
    shuffled = df.sample(frac=1, random_state=0)
    pd.testing.assert_frame_equal(rank_methods(df, "acc_wg", key="k"),
                                  rank_methods(shuffled, "acc_wg", key="k"))
    with pytest.raises(ValueError, match="duplicate"):
        rank_methods(pd.concat([df, df.iloc[:1]]), "acc_wg")
    with pytest.raises(ValueError, match="missing"):
        rank_methods(df, "ap")
    assert rank_methods(df.iloc[:0], "acc_wg").empty


def test_rank_methods_drops_incomplete_seeds():
    df = _records({"a": [0.5, 0.6, 0.7, 0.8]})
    df.loc[(df["seed"] == 3) & (df["task"] == "y"), "acc_wg"] = np.nan
    out = rank_methods(df, "acc_wg")
    assert out["n_seeds"][0] == 3 and out["mean"][0] == pytest.approx(0.65)
