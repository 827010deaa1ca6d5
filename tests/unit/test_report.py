"""Report helpers on synthetic flat records: ranking input, per-kind table, plots."""

import json

import numpy as np
import pandas as pd

from medstrata.bench import report


def _records(severities=(0.5, 0.9)):
    rows = []
    rng = np.random.default_rng(0)
    for method, oracle in (("a", False), ("oracle", True)):
        for sev in severities:
            for seed in (0, 1, 2):
                value = 1.0 if oracle else float(np.clip(sev - 0.1 + 0.05 * rng.standard_normal(), 0, 1))
                rows.append({"method": method, "is_oracle": oracle, "dataset": "pneumoniamnist",
                             "kind": "spurious_marker", "stratum_params": json.dumps({"rho": sev, "shape": "square"}),
                             "seed": seed, "stratum_id": 1, "p_at_10": value, "ap": value})
    return pd.DataFrame(rows)


def test_ranked_table_flags_oracle_and_ranks_it_first():
    table = report.ranked_table(_records(), "p_at_10")
    assert table.method.iloc[0] == "oracle (ORACLE)" and table["rank"].iloc[0] == 1
    assert "oracle (ORACLE)" in report.per_kind_table(_records(), "p_at_10").index


def test_dose_response_uses_the_severity_knob(tmp_path):
    assert report.plot_dose_response(_records(), "p_at_10", tmp_path / "dose.png")
    assert (tmp_path / "dose.png").stat().st_size > 1000
    assert not report.plot_dose_response(_records(severities=(0.9,)), "p_at_10", tmp_path / "none.png")


def test_short_setting():
    assert report.short_setting("rare_subclass", json.dumps({"p": 0.05, "subclass": 5})) == "p=0.05"
    assert report.short_setting("unknown", "{}") == ""
