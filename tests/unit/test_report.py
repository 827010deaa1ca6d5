"""Report helpers on synthetic flat records: paired ranking, tables, summary text, plots."""

import json

import numpy as np
import pandas as pd

from medstrata.runner import report


def _records(severities=(0.5, 0.9)):
    rows = []
    rng = np.random.default_rng(0)
    for method, oracle, control in (("a", False, False), ("b", False, False), ("oracle", True, True),
                                    ("random", False, True)):
        for sev in severities:
            for seed in (0, 1, 2):
                base = {"a": sev - 0.1, "b": sev - 0.3, "oracle": 1.0, "random": 0.1}[method]
                value = float(np.clip(base + (0 if oracle else 0.05 * rng.standard_normal()), 0, 1))
                rows.append({"method": method, "is_oracle": oracle, "is_control": control,
                             "dataset": "pneumoniamnist", "kind": "spurious_marker",
                             "stratum_params": json.dumps({"rho": sev, "shape": "square"}), "seed": seed,
                             "task_id": f"t{sev}{seed}", "stratum_id": 1, "p_at_10": value, "ap": value,
                             "p_at_10_dcbench": value, "auroc": value, "split_agreement": 1.0, "n_slices": 5,
                             "ap_boot": list(value + 0.02 * rng.standard_normal(50))})
    return pd.DataFrame(rows)


def test_ranked_table_puts_controls_apart_unranked():
    table, pairs = report.ranked_table(_records(), "ap")
    assert table.method.tolist() == ["a", "b", "oracle (ORACLE)", "random (control)"]
    assert table["rank"].tolist()[:2] == [1, 2] and table["rank"][2:].isna().all()
    assert table.attrs["within_cell"] and (table.n_slices == 5).all()
    assert len(pairs) == 1 and bool(pairs.significant[0])
    text = report.format_table(table, "ap")
    assert text.index("controls (reference rows, not ranked)") < text.index("oracle (ORACLE)")
    assert "| ref | oracle (ORACLE) |" in text and "split_agreement" in text
    assert "oracle (ORACLE)" in report.per_kind_table(_records(), "ap").index


def test_summary_defines_columns_lists_plots_and_counts(tmp_path):
    res = _records()
    ref = res[res.method == "a"][["dataset", "kind", "stratum_params"]].assign(acc_avg=0.9, acc_wg=0.5)
    header = {"tasks (dataset × kind × setting)": 2, "task × seed cells": 6}
    report.write_markdown(tmp_path / "s.md", "smoke", "ap", report.ranked_table(res, "ap"), res, ref, header,
                          [("recovery_ap.png", "bars")])
    text = (tmp_path / "s.md").read_text()
    for needle in ("docs/metrics.md", "Holm", "split_agreement", "p_at_10_dcbench", "recovery_ap.png",
                   "## Pairwise differences", "tasks (dataset × kind × setting): 2"):
        assert needle in text, needle


def test_bars_are_not_clipped(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = _records()
    res.loc[res.method == "oracle", "ap"] = [1.0, 0.6, 1.0, 1.0, 0.6, 1.0]  # mean + std > 1.05
    seen = {}
    orig = plt.Figure.savefig

    def grab(fig, *a, **k):
        seen["ylim"] = fig.axes[0].get_ylim()
        return orig(fig, *a, **k)

    plt.Figure.savefig = grab
    try:
        report.plot_recovery(res, "ap", tmp_path / "bars.png")
    finally:
        plt.Figure.savefig = orig
    assert seen["ylim"][1] > 0.867 + 0.231 and (tmp_path / "bars.png").stat().st_size > 1000


def test_dose_response_uses_the_severity_knob(tmp_path):
    assert report.plot_dose_response(_records(), "ap", tmp_path / "dose.png")
    assert (tmp_path / "dose.png").stat().st_size > 1000
    assert not report.plot_dose_response(_records(severities=(0.9,)), "ap", tmp_path / "none.png")


def test_short_setting():
    assert report.short_setting("rare_subclass", json.dumps({"p": 0.05, "subclass": 5})) == "p=0.05"
    assert report.short_setting("unknown", "{}") == ""


def test_a_cell_without_a_value_is_dropped_for_every_method():
    res = _records()
    res.loc[(res.method == "a") & (res.seed == 0), "ap"] = np.nan  # e.g. no test members
    table, _ = report.ranked_table(res, "ap")
    assert (table.n_cells == 4).all() and (table.n_cells_dropped == 2).all()
    assert table.attrs["within_cell"]


def test_saturation_note_names_methods_at_the_ceiling():
    res = _records()
    assert report.saturation_note(res, "ap").startswith("Saturation check: no ranked method")
    res.loc[res.method == "a", "ap"] = 0.97
    note = report.saturation_note(res, "ap")
    assert "a on spurious_marker (0.970)" in note and "oracle" not in note
