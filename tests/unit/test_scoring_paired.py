"""Paired hierarchical-bootstrap ranking: Holm correction, monotone ranks, controls, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from medstrata.scoring import holm_adjust, paired_ranking
from medstrata.scoring.aggregate import summarize


def _cells(spec: dict[str, tuple[float, float]], n_tasks=3, n_seeds=5, seed=0) -> pd.DataFrame:
    """One row per (method, task, seed): value ~ Normal(mean, spread), drawn from a fixed generator."""
    rng = np.random.default_rng(seed)
    rows = [(m, f"t{t}", s, mu + sd * rng.standard_normal())
            for t in range(n_tasks) for s in range(n_seeds) for m, (mu, sd) in spec.items()]
    return pd.DataFrame(rows, columns=["method", "task", "seed", "ap"])


def test_holm_adjust_matches_the_step_down_rule():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm_adjust(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjust([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_separated_methods_get_distinct_ranks_and_controls_none():
    df = _cells({"a": (0.8, 0.01), "b": (0.6, 0.01), "c": (0.4, 0.01), "oracle": (1.0, 0.0)})
    table, pairs = paired_ranking(df, "ap", controls=["oracle"])
    ranks = table.set_index("method")["rank"]
    assert ranks[["a", "b", "c"]].tolist() == [1, 2, 3] and np.isnan(ranks["oracle"])
    assert table.method.tolist()[-1] == "oracle" and table.role.tolist()[-1] == "control"
    assert len(pairs) == 3 and pairs.significant.all()
    assert "oracle" not in set(pairs.method_a) | set(pairs.method_b)


@pytest.mark.parametrize("seed", range(25))
def test_a_wide_spread_never_outranks_a_higher_mean(seed):
    # top and steady are tight; wide has a lower mean than steady but a huge spread, so it is not
    # significantly worse than top while steady is: the raw rule would put wide (rank 1) above
    # steady (rank 2). The monotone rule must not.
    df = _cells({"top": (0.85, 0.005), "steady": (0.75, 0.005), "wide": (0.70, 0.25)}, seed=seed)
    table, pairs = paired_ranking(df, "ap", key=("planted", seed))
    t = table.set_index("method")
    by_mean = t.sort_values("mean", ascending=False)
    assert by_mean["rank"].is_monotonic_increasing, by_mean
    for a in t.index:
        for b in t.index:
            if t.loc[a, "mean"] > t.loc[b, "mean"]:
                assert t.loc[a, "rank"] <= t.loc[b, "rank"]
    # The old rule (1 + intervals entirely above) on the same data, for contrast, is not asserted.
    assert t.loc["top", "rank"] == 1


def test_planted_case_where_the_raw_rule_inverts():
    df = _cells({"top": (0.85, 0.002), "steady": (0.80, 0.002), "wide": (0.78, 0.0)}, seed=3)
    offsets = np.tile([-0.2, -0.1, 0.0, 0.1, 0.2], 3)  # mean exactly 0: wide's mean stays 0.78
    df.loc[df.method == "wide", "ap"] += offsets
    table, pairs = paired_ranking(df, "ap", key=("inversion",))
    t = table.set_index("method")
    sig = {(r.method_a, r.method_b): r.significant for r in pairs.itertuples()}
    assert sig[("steady", "top")] and not sig[("top", "wide")]  # steady is beaten, wide is not
    assert t.loc["wide", "n_better"] < t.loc["steady", "n_better"]  # raw ranks invert...
    assert t.loc["steady", "mean"] > t.loc["wide", "mean"]
    assert t.loc["wide", "rank"] >= t.loc["steady", "rank"]  # ...the reported ranks do not


def test_within_cell_replicates_widen_the_interval_and_pairing_cancels_shared_noise():
    df = _cells({"a": (0.7, 0.0), "b": (0.69, 0.0)}, n_tasks=2, n_seeds=3)
    rng = np.random.default_rng(1)
    shared = {(t, s): 0.1 * rng.standard_normal(200) for t in ("t0", "t1") for s in range(3)}
    df["boot"] = [v + shared[(t, s)] for v, t, s in zip(df.ap, df.task, df.seed)]
    flat, _ = paired_ranking(df, "ap")
    boot, pairs = paired_ranking(df, "ap", boot="boot")
    width = lambda tab: (tab.ci_high - tab.ci_low).max()  # noqa: E731
    assert width(flat) == 0 and width(boot) > 0.05
    assert pairs.loc[0, "ci_low"] == pytest.approx(0.01) == pairs.loc[0, "ci_high"]
    assert pairs.significant.all()


def test_only_common_cells_are_used_and_input_is_checked():
    df = _cells({"a": (0.8, 0.05), "b": (0.6, 0.05)})
    df.loc[(df.method == "b") & (df.seed == 4), "ap"] = np.nan
    table, _ = paired_ranking(df, "ap")
    assert (table.n_cells == 12).all() and (table.n_cells_dropped == 3).all() and (table.n_tasks == 3).all()
    again, _ = paired_ranking(df.sample(frac=1, random_state=0), "ap")
    pd.testing.assert_frame_equal(table, again)
    with pytest.raises(ValueError, match="duplicate"):
        paired_ranking(pd.concat([df, df.iloc[:1]]), "ap")
    with pytest.raises(ValueError, match="missing"):
        paired_ranking(df, "auroc")


def test_point_value_is_mean_over_tasks_of_seed_means():
    df = pd.DataFrame([("a", "x", 0, 1.0), ("a", "x", 1, 0.0), ("a", "y", 0, 0.5), ("a", "y", 1, 0.5)],
                      columns=["method", "task", "seed", "ap"])
    table, _ = paired_ranking(df, "ap")
    assert table["mean"][0] == 0.5 and summarize([1.0, 0.0], "k")["mean"] == 0.5
