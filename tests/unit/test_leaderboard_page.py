"""The static leaderboard page on generated records: files, escaping, numbers, ranks, private gap."""

from __future__ import annotations

import json
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest

from medstrata.leaderboard import page
from medstrata.runner import report

HOSTILE = "<script>alert(1)</script>"
#: (board name, true AP level, private shift, oracle, control, used labels). Distinct levels, so the
#: ranking is deterministic: strong > hostile > mid > weak, oracle unranked.
METHODS = [("strong 1 (#1)", 0.80, 0.0, False, False, False),
           (HOSTILE, 0.60, -0.25, False, False, True),
           ("mid | pipe (#3)", 0.45, 0.02, False, False, False),
           ("weak 1 (#4)", 0.20, 0.0, False, False, False),
           ("oracle 1 (#5)", 1.00, 0.0, True, True, False)]


def example_records(methods=METHODS, seeds=(0, 1, 2), n_boot: int = 40, tiers=("public", "private")) -> pd.DataFrame:
    """Flat records: 2 datasets x 2 kinds x ``seeds`` x 2 strata per task, per method and tier.

    Returns one row per (method, tier, dataset, kind, seed, stratum) with results.csv columns plus
    ``ap_boot`` ((n_boot,) list), ``board_name``, ``submission_id``, ``tier``, ``worst_slice_acc``.
    """
    rng = np.random.default_rng(0)
    rows = []
    for sid, (board, level, shift, oracle, control, _) in enumerate(methods, start=1):
        for tier in tiers:
            for dataset in ("bloodmnist", "pneumoniamnist"):
                for kind, params in (("rare_subclass", {"p": 0.05}), ("spurious_marker", {"rho": 0.9})):
                    for seed in seeds:
                        for stratum in (1, 2):
                            noise = 0.0 if oracle else 0.02 * rng.standard_normal()
                            ap = float(np.clip(level + (shift if tier == "private" else 0) + noise
                                               + (0.05 if kind == "rare_subclass" else 0), 0, 1))
                            rows.append({
                                "task_id": f"{tier}-{dataset}-{kind}-{seed}", "dataset": dataset,
                                "target": "official", "task_strata": kind, "kind": kind,
                                "stratum_params": json.dumps(params), "model_id": "m", "seed": seed,
                                "method": board.split(" ")[0], "is_oracle": oracle, "is_control": control,
                                "stratum_id": stratum, "ap": ap, "p_at_10": min(1.0, ap + 0.1),
                                "p_at_10_dcbench": ap, "auroc": ap, "split_agreement": 1.0, "n_slices": 5,
                                "ap_boot": list(ap + 0.01 * rng.standard_normal(n_boot)),
                                "board_name": board, "submission_id": sid, "tier": tier,
                                "worst_slice_acc": float(np.clip(1 - level + 0.05 * stratum, 0, 1))})
    return pd.DataFrame(rows)


def example_submissions(methods=METHODS) -> pd.DataFrame:
    """One row per submission in :data:`METHODS`, with hostile authors and URLs on the second."""
    rows = []
    for sid, (board, _, _, oracle, control, labels) in enumerate(methods, start=1):
        hostile = board == HOSTILE
        rows.append({"submission_id": sid, "board_name": board, "name": board.split(" ")[0], "version": "1",
                     "authors": '"><img src=x onerror=alert(2)>' if hostile else "A. Author",
                     "code_url": "javascript:alert(3)" if hostile else f"https://example.org/code/{sid}",
                     "paper_url": "" if hostile else f"http://example.org/paper?id={sid}&v=1",
                     "embedding": "penultimate", "used_stratum_labels": labels, "verified": sid == 1,
                     "is_oracle": oracle, "is_control": control, "tier": "public",
                     "submitted_at": f"2026-11-0{sid}T10:00:00+00:00", "scorer_version": "1",
                     "suite_id": "abc123", "suite_name": "quick"})
    return pd.DataFrame(rows)


META = {"benchmark_version": "0.1.0", "suite_name": "quick", "suite_id": "abc123", "scorer_version": "1",
        "built_at": "2026-11-29T12:00:00+00:00", "primary_metric": "ap"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("page")
    paths = page.build_page(example_records(), example_submissions(), META, out)
    return paths, {k: p.read_text(encoding="utf-8") for k, p in paths.items() if k != "plot"}


def test_writes_every_file(built):
    paths, _ = built
    assert set(paths) == {"html", "md", "csv", "plot"}
    assert [p.name for p in paths.values()] == ["index.html", "leaderboard.md", "leaderboard.csv",
                                                "recovery_by_kind.png"]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["plot"].stat().st_size > 5000


def test_hostile_text_is_escaped_in_html(built):
    html = built[1]["html"]
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "javascript:" not in html
    assert html.count("<script>") == 1  # only the page's own sorter
    assert 'href="http://example.org/paper?id=1&amp;v=1"' in html


def test_hostile_text_is_escaped_in_markdown(built):
    md = built[1]["md"]
    assert "<script>" not in md and "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    row = next(line for line in md.splitlines() if "mid" in line and line.startswith("| "))
    assert "mid \\| pipe \\(\\#3\\)" in row
    header = next(line for line in md.splitlines() if line.startswith("| rank"))
    assert row.count(" | ") == header.count(" | ")  # the escaped pipe did not add a column


def test_no_external_assets(built):
    html = built[1]["html"]
    tags = re.findall(r"<(?:script|link|img)\b[^>]*>", html, flags=re.I)
    assert tags and not [t for t in tags if re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", t, flags=re.I)]
    assert "<link" not in html
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe" not in csp


def test_ranks_equal_ranked_table(built, tmp_path):
    frame = pd.read_csv(built[0]["csv"])
    public = example_records()
    public = public[public.tier == "public"].assign(method=lambda d: d.board_name)
    table, _ = report.ranked_table(public, "ap")
    table["board"] = table.method.str.replace(" (ORACLE)", "", regex=False)
    assert frame.board_name.tolist() == table.board.tolist()
    assert frame.board_name.tolist()[:4] == ["strong 1 (#1)", HOSTILE, "mid | pipe (#3)", "weak 1 (#4)"]
    ranks = frame.set_index("board_name")["rank"]
    assert np.allclose(ranks.loc[table.board], table["rank"], equal_nan=True)
    assert frame.role.tolist() == ["ranked"] * 4 + ["control"]
    assert np.allclose(frame.set_index("board_name").loc[table.board, "ap_ci_low"], table.ci_low)


def _independent_mean(df: pd.DataFrame, metric: str) -> pd.Series:
    """Mean over strata -> over seeds -> over (dataset, kind, params) tasks, per board."""
    keys = ["board_name", "dataset", "kind", "stratum_params"]
    return (df.groupby(keys + ["seed"])[metric].mean().groupby(keys).mean().groupby("board_name").mean())


def test_csv_one_row_per_submission_with_the_right_numbers(built):
    frame = pd.read_csv(built[0]["csv"]).set_index("board_name")
    rec = example_records()
    pub, priv = rec[rec.tier == "public"], rec[rec.tier == "private"]
    assert len(frame) == 5 and frame.submission_id.is_unique
    for col, df, metric in (("ap_mean", pub, "ap"), ("ap_private", priv, "ap"),
                            ("worst_slice_acc", pub, "worst_slice_acc"), ("p_at_10", pub, "p_at_10")):
        expected = _independent_mean(df, metric)
        assert np.allclose(frame.loc[expected.index, col], expected), col
    assert (frame.n_seeds == 3).all() and (frame.n_cells == 12).all()
    kind = pub[pub.kind == "spurious_marker"]
    assert np.allclose(frame.loc[:, "ap[kind=spurious_marker]"].sort_index(),
                       _independent_mean(kind, "ap").sort_index())
    assert {"ap[dataset=bloodmnist]", "ap[dataset=pneumoniamnist]", "ap[kind=rare_subclass]"} <= set(frame.columns)
    assert frame.loc[HOSTILE, "authors"].startswith('"><img')  # CSV keeps text as text


def test_private_gap_flag_only_where_expected(built):
    frame = pd.read_csv(built[0]["csv"]).set_index("board_name")
    assert frame.private_flag.tolist() == [name == HOSTILE for name in frame.index]
    assert frame.loc[HOSTILE, "private_gap"] == pytest.approx(0.25, abs=0.02)
    html = built[1]["html"]
    assert html.count("&#9888; gap</span>") == 1 and f"{page.GAP_THRESHOLD:.2f}" in html
    md_rows = [line for line in built[1]["md"].splitlines() if "| GAP |" in line]
    assert len(md_rows) == 1 and "&lt;script&gt;" in md_rows[0]


def test_page_has_metadata_legend_badges_and_links(built):
    html = built[1]["html"]
    for needle in ("0.1.0", "abc123", "quick", "Scorer version", 'href="leaderboard.csv"',
                   'src="recovery_by_kind.png"', "Holm", "monotone in the mean", "ORACLE", "verified",
                   "used stratum labels", "2026-11-01", "AP by kind", "AP by dataset",
                   'href="https://example.org/code/1"'):
        assert needle in html, needle
    assert html.count('class="badge labels"') == 1 and html.count('class="badge verified"') == 1


def test_formula_cells_are_neutralised_and_unscored_submissions_listed(tmp_path):
    subs = example_submissions()
    extra = subs.iloc[[0]].assign(submission_id=9, board_name="=HYPERLINK(1) (#9)", name="=x")
    paths = page.build_page(example_records(tiers=("public",)), pd.concat([subs, extra]), META, tmp_path)
    frame = pd.read_csv(paths["csv"])
    last = frame.iloc[-1]
    assert last.board_name == "'=HYPERLINK(1) (#9)" and last.role == "unscored" and np.isnan(last["rank"])
    assert frame.ap_private.isna().all() and not frame.private_flag.any()


@pytest.mark.parametrize("url, ok", [("https://a.org/x", True), ("http://a.org", True), ("javascript:alert(1)", False),
                                     ("data:text/html,x", False), ("//a.org", False), ("https:///x", False),
                                     (None, False), (float("nan"), False)])
def test_safe_url(url, ok):
    assert (page.safe_url(url) is not None) is ok


def test_without_replicates_with_dollar_names_and_missing_worst_slice(tmp_path):
    """No ``ap_boot`` (seeds are then the only bootstrap level), a mathtext-looking name in the plot,
    NaN worst-slice accuracies skipped in the mean."""
    methods = [("a$\\frac$ (#1)", 0.7, 0.0, False, False, False), ("b (#2)", 0.3, 0.0, False, False, False)]
    rec = example_records(methods, tiers=("public",)).drop(columns="ap_boot")
    rec.loc[rec.stratum_id == 2, "worst_slice_acc"] = np.nan
    paths = page.build_page(rec, example_submissions(methods), META, tmp_path)
    frame = pd.read_csv(paths["csv"]).set_index("board_name")
    assert frame["rank"].tolist() == [1, 2] and paths["plot"].stat().st_size > 5000
    assert np.allclose(frame.worst_slice_acc, _independent_mean(rec, "worst_slice_acc").loc[frame.index])


def test_gap_closed_column_is_the_ratio_of_the_means_per_task_and_dash_without_mitigation():
    """Only the first submission (a code submission) carries mitigation fields; per task the gap
    closed (reference: the no-group head, not ERM) is the ratio of the means over seeds, then the mean
    over tasks; "undefined (oracle ≈ reference)" tasks are left out; every other row shows NaN."""
    from medstrata.leaderboard.page import leaderboard_frame

    rec = example_records()
    first = rec.board_name == METHODS[0][0]
    task_key = rec.dataset + "/" + rec.kind
    m = np.where(task_key.str.startswith("blood"), 0.70, 0.65) + 0.01 * rec.seed
    oracle = np.where(task_key == "pneumoniamnist/spurious_marker", 0.61, 0.80)  # gap 0.01: undefined
    rec = rec.assign(stratum_column="stratum_" + rec.kind,
                     acc_wg_mitigated=np.where(first, m, np.nan), acc_wg_erm=np.where(first, 0.50, np.nan),
                     acc_wg_nogroups=np.where(first, 0.60, np.nan),  # the page's reference (not ERM)
                     acc_wg_oracle_mitigated=np.where(first, oracle, np.nan))
    frame = leaderboard_frame(rec, example_submissions()).set_index("board_name")
    per_task = {"bloodmnist": (0.71 - 0.60) / 0.20, "pneumoniamnist/rare_subclass": (0.66 - 0.60) / 0.20}
    expected = (2 * per_task["bloodmnist"] + per_task["pneumoniamnist/rare_subclass"]) / 3
    assert frame.loc[METHODS[0][0], "gap_closed"] == pytest.approx(expected)
    assert frame.drop(index=METHODS[0][0]).gap_closed.isna().all()
