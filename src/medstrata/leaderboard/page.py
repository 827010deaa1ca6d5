"""``medstrata leaderboard build``: the static leaderboard page (HTML + Markdown + CSV + plot).

The ranking is not redefined here: the public-tier records go through
:func:`medstrata.runner.report.ranked_table` with ``method = board_name`` (paired hierarchical
bootstrap, Holm-corrected, ranks monotone in the mean; oracle/control rows are unranked reference
rows). Private-tier records are only summarised per submission (mean AP) beside the public one and
flagged when the two differ by more than :data:`GAP_THRESHOLD`.

Safety: submission-provided text (names, authors, URLs) is escaped everywhere. The HTML template
is rendered with Jinja2 autoescape on and nothing from a submission is marked safe; links are kept
only for ``http(s)`` URLs; the page loads no external asset and its Content-Security-Policy allows
only its own inline style and script (by hash) and same-origin images. The Markdown escapes HTML
and Markdown syntax; the CSV prefixes text cells that a spreadsheet would run as a formula.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from medstrata.runner.report import add_cell, display_name, per_task, plot_recovery, ranked_table

METRIC = "ap"
#: A submission's private-tier mean AP is flagged when ``|public - private| > GAP_THRESHOLD``.
GAP_THRESHOLD = 0.10
FILES = {"html": "index.html", "md": "leaderboard.md", "csv": "leaderboard.csv", "plot": "recovery_by_kind.png"}
BREAKDOWN_BY = ("kind", "dataset")
ROLE_LABELS = {"ranked": "", "control": "Controls (reference rows, not ranked)",
               "unscored": "No public-tier results (not ranked)"}
LEGEND = [
    ("Rank", "1 + the number of methods significantly better on public-tier AP (paired hierarchical "
     "bootstrap over seeds within tasks and test samples within cells, Holm-Bonferroni over all pairs, "
     "alpha = 0.05), then made monotone in the mean: no method ranks above one with a higher mean. "
     "Equal ranks are ties the data cannot separate. Controls (ORACLE, control) are reference rows."),
    ("AP (95% CI)", "primary metric: split-half average precision of the matched slice, mean over a "
     "task's strata, then over seeds, then over tasks; percentile interval of the same bootstrap."),
    ("Private AP", "the same mean on the private tier (held-out tasks), not used for the rank. "
     f"\u26a0 gap marks |public - private| > {GAP_THRESHOLD:.2f} AP: a sign of overfitting the public tasks."),
    ("P@10", "expected precision of the top 10 samples of the matched slice (split-half), mean over cells."),
    ("Worst-slice acc", "the reference model's accuracy on the method's worst slice, mean over cells; "
     "lower means the method surfaced a group the model fails on more badly."),
    ("Gap closed", "worst-group accuracy after last-layer GroupDRO with the method's groups (on train "
     "and val, never test): (method - no groups) / (oracle groups - no groups), the reference being GroupDRO "
     "over the classes alone; ratio of the means over seeds, mean over tasks where oracle - reference >= 0.02; computed for verified code submissions only (an outputs file has no "
     "train/val groups), '–' otherwise. See docs/mitigation.md."),
    ("Seeds / Cells", "distinct seeds with public results / (task, seed) cells that every method has, "
     "so all comparisons are paired."),
    ("Badges", "ORACLE reads the true strata; control is a reference baseline; verified = results "
     "reproduced by the maintainers; used stratum labels = the method saw stratum labels (not blind)."),
    ("CSV", "text cells starting with = + - @ are prefixed with ' so spreadsheets do not run them."),
]


def build_page(records: pd.DataFrame, submissions: pd.DataFrame, meta: dict, out_dir: Path) -> dict[str, Path]:
    """Write ``index.html``, ``leaderboard.md``, ``leaderboard.csv`` and ``recovery_by_kind.png``.

    Args:
        records: (R, ...) flat per-stratum records (results.csv columns) plus ``board_name``,
            ``submission_id``, ``tier`` ("public"/"private"), ``worst_slice_acc`` and optionally
            ``ap_boot`` (a (B_cell,) array per row).
        submissions: (S, ...) one row per submission (see :mod:`medstrata.leaderboard.store`).
        meta: benchmark_version, suite_name, suite_id, scorer_version, built_at, primary_metric.
        out_dir: created if missing.

    Returns:
        {"html" | "md" | "csv" | "plot": path}; "plot" is absent when there are no public records.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    public = _as_methods(records[records["tier"] == "public"])
    frame = leaderboard_frame(records, submissions)
    order = frame["board_name"].tolist()
    breakdowns = {by: breakdown(public, by).reindex([b for b in order if b in set(public["method"])])
                  for by in BREAKDOWN_BY}
    paths = {key: out_dir / name for key, name in FILES.items()}
    if public.empty:
        paths.pop("plot")
    else:
        plot_recovery(public.assign(method=public["method"].str.replace("$", r"\$", regex=False)), METRIC,
                      paths["plot"])
    write_csv(frame, breakdowns, paths["csv"])
    paths["md"].write_text(render_markdown(frame, breakdowns, meta), encoding="utf-8")
    paths["html"].write_text(render_html(frame, breakdowns, meta, has_plot="plot" in paths), encoding="utf-8")
    return paths


# ---------------------------------------------------------------- numbers


def _as_methods(records: pd.DataFrame) -> pd.DataFrame:
    """Records with ``method = board_name`` (the unit that is ranked)."""
    return records.assign(method=records["board_name"].astype(str))


def task_mean(df: pd.DataFrame, metric: str) -> pd.Series:
    """Per method: mean over tasks (cells) of the mean over seeds of :func:`per_task` values, NaN skipped."""
    if df.empty or metric not in df:
        return pd.Series(dtype=float)
    pt = per_task(add_cell(df), metric)
    return pt.groupby(["method", "cell"])[metric].mean().groupby("method").mean()


def gap_closed_mean(df: pd.DataFrame) -> pd.Series:
    """Per method: mean over (task, stratum column) of the gap closed over seeds (ratio of the
    means, :func:`medstrata.scoring.gap_closed.gap_closed_over_seeds`); units where it is undefined
    (oracle ≈ reference) and records without mitigation fields (outputs submissions) are left out. The
    reference is the strategy without discovered groups (``acc_wg_nogroups``), as in the run summary."""
    from medstrata.scoring.gap_closed import gap_closed_over_seeds

    cols = ["acc_wg_mitigated", "acc_wg_nogroups", "acc_wg_oracle_mitigated"]
    if df.empty or any(c not in df for c in cols):
        return pd.Series(dtype=float)
    units = add_cell(df).dropna(subset=cols).drop_duplicates(["method", "cell", "stratum_column", "seed"])
    values = {}
    for (method, cell, col), g in units.groupby(["method", "cell", "stratum_column"]):
        s = gap_closed_over_seeds(*(g[c].to_numpy(float) for c in cols), ("page", method, cell, col), n_boot=1)
        values.setdefault(method, []).append(s["gap_closed"])
    return pd.Series({m: float(np.nanmean(v)) if np.isfinite(v).any() else np.nan for m, v in values.items()},
                     dtype=float)


def breakdown(public: pd.DataFrame, by: str) -> pd.DataFrame:
    """(methods, values of ``by``) frame of :func:`task_mean` AP within each kind or dataset."""
    if public.empty:
        return pd.DataFrame()
    cols = {value: task_mean(part, METRIC) for value, part in public.groupby(by)}
    return pd.DataFrame(cols).sort_index(axis=1)


def _ranking(public: pd.DataFrame) -> pd.DataFrame:
    """ranked_table of the public tier with its display names mapped back to board names."""
    cols = ["board_name", "role", "rank", "mean", "ci_low", "ci_high", "n_cells", "p_at_10"]
    if public.empty:
        return pd.DataFrame(columns=cols)
    table, _ = ranked_table(public, METRIC)
    flags = public.assign(ctrl=public["is_control"].fillna(False).astype(bool) | public["is_oracle"].astype(bool))
    flags = flags.groupby("method")[["is_oracle", "ctrl"]].first()
    back = {display_name(m, bool(o), bool(c)): m for m, (o, c) in flags.iterrows()}
    if len(back) != len(flags):
        raise ValueError("leaderboard page: two board names collide once ORACLE/control is appended")
    table = table.assign(board_name=table["method"].map(back))
    if "p_at_10" not in table:
        table["p_at_10"] = np.nan
    return table[cols]


def leaderboard_frame(records: pd.DataFrame, submissions: pd.DataFrame) -> pd.DataFrame:
    """(S, ...) one row per submission, in page order, with every number the page shows.

    Columns: the submission's fields, ``role`` (ranked/control/unscored), ``rank``, ``ap_mean``,
    ``ap_ci_low``, ``ap_ci_high``, ``ap_private``, ``private_gap`` (public - private),
    ``private_flag``, ``p_at_10``, ``worst_slice_acc``, ``gap_closed``, ``n_seeds``, ``n_cells``.
    """
    public = _as_methods(records[records["tier"] == "public"])
    private = _as_methods(records[records["tier"] == "private"])
    table = _ranking(public).rename(columns={"mean": "ap_mean", "ci_low": "ap_ci_low", "ci_high": "ap_ci_high"})
    table["_order"] = np.arange(len(table))
    out = one_row_per_method(submissions).merge(table, on="board_name", how="left")
    out["role"] = out["role"].fillna("unscored")
    out["_order"] = out["_order"].fillna(len(table) + out["submission_id"].rank(method="first"))
    out["ap_private"] = out["board_name"].map(task_mean(private, METRIC)).astype(float)
    out["private_gap"] = out["ap_mean"].astype(float) - out["ap_private"]
    out["private_flag"] = out["private_gap"].abs() > GAP_THRESHOLD
    out["worst_slice_acc"] = out["board_name"].map(task_mean(public, "worst_slice_acc")).astype(float)
    out["gap_closed"] = out["board_name"].map(gap_closed_mean(public)).astype(float)
    out["n_seeds"] = out["board_name"].map(public.groupby("method")["seed"].nunique()).astype(float)
    out["n_cells"] = out["n_cells"].astype(float)
    return out.sort_values("_order").drop(columns="_order").reset_index(drop=True)


def one_row_per_method(submissions: pd.DataFrame) -> pd.DataFrame:
    """One row per ``board_name``: the public submission's fields when there is one (a method's
    public and private submissions share a label and are shown side by side), ``tiers`` listing
    both, ``verified`` true only when every tier of it is."""
    subs = submissions.assign(_public=submissions["tier"].ne("public"))
    tiers = subs.groupby("board_name")["tier"].agg(lambda t: ", ".join(sorted(set(t))))
    verified = subs.groupby("board_name")["verified"].all()
    first = subs.sort_values(["_public", "submission_id"]).drop_duplicates("board_name").drop(columns="_public")
    return first.assign(tiers=first["board_name"].map(tiers), verified=first["board_name"].map(verified))


# ---------------------------------------------------------------- text helpers


def _isnan(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)) or v is pd.NA


def _text(v) -> str:
    """A submission field as plain text ('' when missing)."""
    return "" if _isnan(v) else str(v)


def _flag(v) -> bool:
    return False if _isnan(v) else bool(v)


def safe_url(url) -> str | None:
    """``url`` when it is an absolute http(s) URL with a host, else None (no javascript:, data:, ...)."""
    text = _text(url).strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def badges(row) -> list[tuple[str, str]]:
    """(css class, text) of a submission row's badges."""
    spec = [("oracle", "ORACLE", _flag(row.get("is_oracle"))),
            ("control", "control", _flag(row.get("is_control")) and not _flag(row.get("is_oracle"))),
            ("verified", "verified", _flag(row.get("verified"))),
            ("labels", "used stratum labels", _flag(row.get("used_stratum_labels")))]
    return [(cls, text) for cls, text, on in spec if on]


def links(row) -> list[tuple[str, str]]:
    """(label, url) for the code and paper URLs that are http(s)."""
    pairs = [("code", safe_url(row.get("code_url"))), ("paper", safe_url(row.get("paper_url")))]
    return [(label, url) for label, url in pairs if url]


def md_escape(text) -> str:
    """Plain text for a Markdown table cell: HTML escaped, Markdown syntax and ``|`` backslashed."""
    out = html.escape(" ".join(_text(text).split()), quote=False)
    for ch in "\\`*_[]()#!|~":
        out = out.replace(ch, "\\" + ch)
    return out


def csv_safe(value):
    """Text starting with = + - @ (or a tab/CR) gets a leading ' so spreadsheets show it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _num(v) -> str:
    return "–" if _isnan(v) else f"{float(v):.3f}"


def _sortkey(v) -> str:
    if _isnan(v):
        return ""
    return repr(float(v)) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)


def _intnum(v) -> str:
    return "–" if _isnan(v) else str(int(v))


def _rank_text(row) -> str:
    return "ref" if row["role"] == "control" else "–" if _isnan(row["rank"]) else str(int(row["rank"]))


# ---------------------------------------------------------------- writers


def write_csv(frame: pd.DataFrame, breakdowns: dict[str, pd.DataFrame], path: Path) -> None:
    """One row per submission: the frame plus ``ap[kind=...]`` / ``ap[dataset=...]`` columns."""
    lead = ["submission_id", "board_name", "role", "rank", "ap_mean", "ap_ci_low", "ap_ci_high", "ap_private",
            "private_gap", "private_flag", "p_at_10", "worst_slice_acc", "gap_closed", "n_seeds", "n_cells"]
    out = frame[lead + [c for c in frame.columns if c not in lead]].copy()
    for by, table in breakdowns.items():
        for col in table.columns:
            out[f"ap[{by}={col}]"] = out["board_name"].map(table[col])
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(csv_safe)
    out.to_csv(path, index=False)


def render_markdown(frame: pd.DataFrame, breakdowns: dict[str, pd.DataFrame], meta: dict) -> str:
    """The page as Markdown: header, ranking table (same rows as the HTML), legend, breakdowns."""
    head = ["rank", "method", "version", "ap", "95% CI", "private ap", "gap flag", "p_at_10",
            "worst_slice_acc", "gap_closed", "seeds", "cells", "badges", "submitted"]
    lines = [f"# MedStrata leaderboard: {md_escape(meta.get('suite_name'))}", ""]
    lines += [f"- {k}: {md_escape(meta.get(k))}" for k in
              ("benchmark_version", "suite_id", "scorer_version", "primary_metric", "built_at")]
    lines += ["", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for _, r in frame.iterrows():
        cells = [_rank_text(r), md_escape(r["board_name"]), md_escape(r.get("version")), _num(r["ap_mean"]),
                 f"[{_num(r['ap_ci_low'])}, {_num(r['ap_ci_high'])}]", _num(r["ap_private"]),
                 "GAP" if r["private_flag"] else "", _num(r["p_at_10"]), _num(r["worst_slice_acc"]),
                 _num(r["gap_closed"]),
                 _intnum(r["n_seeds"]), _intnum(r["n_cells"]), ", ".join(t for _, t in badges(r)),
                 md_escape(_text(r.get("submitted_at"))[:10])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *[f"- **{term}**: {text}" for term, text in LEGEND]]  # our own text, not escaped
    for by, table in breakdowns.items():
        lines += ["", f"## AP by {by} (public tier)", "",
                  "| method | " + " | ".join(md_escape(c) for c in table.columns) + " |",
                  "|---" * (1 + len(table.columns)) + "|"]
        lines += ["| " + " | ".join([md_escape(m), *[_num(v) for v in row]]) + " |" for m, row in table.iterrows()]
    return "\n".join(lines) + "\n"


def _asset(name: str) -> str:
    return (resources.files("medstrata.leaderboard") / "templates" / name).read_text(encoding="utf-8")


def _csp(css: str, js: str) -> str:
    """Content-Security-Policy: only our inline style and script (by SHA-256) and same-origin images."""
    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"
    return (f"default-src 'none'; img-src 'self'; style-src {digest(css)}; script-src {digest(js)}; "
            "base-uri 'none'; form-action 'none'")


def _groups(frame: pd.DataFrame) -> list[dict]:
    """Template rows: one group (tbody) per role, each row a dict of display values."""
    groups = []
    for role, label in ROLE_LABELS.items():
        part = frame[frame["role"] == role]
        if part.empty:
            continue
        rows = [{**r.to_dict(), "rank_text": _rank_text(r), "board_name": _text(r["board_name"]),
                 "version": _text(r.get("version")), "authors": _text(r.get("authors")),
                 "submitted_at": _text(r.get("submitted_at")), "badges": badges(r), "links": links(r)}
                for _, r in part.iterrows()]
        groups.append({"key": role, "label": label, "rows": rows})
    return groups


def render_html(frame: pd.DataFrame, breakdowns: dict[str, pd.DataFrame], meta: dict, has_plot: bool = True) -> str:
    """index.html from ``templates/leaderboard.html.j2`` (Jinja2, autoescape on)."""
    import jinja2
    from markupsafe import Markup

    env = jinja2.Environment(loader=jinja2.PackageLoader("medstrata.leaderboard", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(num=_num, sortkey=_sortkey, intnum=_intnum)
    css, js = _asset("leaderboard.css"), _asset("sort.js")
    tables = [{"by": by, "columns": [str(c) for c in t.columns],
               "rows": [(str(m), list(row)) for m, row in t.iterrows()]} for by, t in breakdowns.items()]
    files = {"csv": FILES["csv"], "md": FILES["md"], "plot": FILES["plot"] if has_plot else ""}
    return env.get_template("leaderboard.html.j2").render(
        meta={k: _text(meta.get(k)) for k in ("benchmark_version", "suite_name", "suite_id", "scorer_version",
                                                "built_at", "primary_metric")},
        groups=_groups(frame), breakdowns=tables, legend=LEGEND, gap_threshold=f"{GAP_THRESHOLD:.2f}",
        files=files, css=Markup(css), js=Markup(js), csp=_csp(css, js))
