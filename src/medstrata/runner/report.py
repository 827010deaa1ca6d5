"""Turn flat result records into the ranked table, the Markdown summary and the plots.

Definitions of every column: ``docs/metrics.md`` (section numbers are quoted in the summary).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

RECOVERY_METRICS = ("ap", "p_at_10", "p_at_10_dcbench", "p_at_25", "auroc", "f1", "ari", "ami",
                    "split_agreement")
#: Secondary columns of the ranked table: mean over cells, next to the ranked metric.
SECONDARY = ("p_at_10", "p_at_10_dcbench", "auroc", "split_agreement")
METRICS_DOC = "docs/metrics.md"


def add_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``cell`` = dataset[target]/kind/params (+ the task's strata when it has several): the
    stratum of a task *before* seeding (task ids differ per seed)."""
    name = df["dataset"] + ("[" + df["target"] + "]" if "target" in df else "")
    if "task_strata" in df:
        name = name + np.where(df["task_strata"].str.contains(r"\+", regex=True), "{" + df["task_strata"] + "}", "")
    return df.assign(cell=name + "/" + df["kind"] + "/" + df["stratum_params"])


def _controls(df: pd.DataFrame) -> pd.Series:
    ctrl = df["is_control"] if "is_control" in df else df["is_oracle"]
    return ctrl.fillna(False).astype(bool) | df["is_oracle"].astype(bool)


def per_task(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (method, cell, seed): the mean of ``metric`` over the task's true strata (and
    discovery random states), NaN rows (strata without test members) skipped."""
    df = df.assign(is_control=_controls(df))
    keys = ["method", "is_oracle", "is_control", "cell", "dataset", "kind", "stratum_params", "seed"]
    return df.groupby(keys, as_index=False)[metric].mean()


def _mean_replicates(reps: pd.Series):
    arrays = [np.asarray(r, dtype=float) for r in reps if r is not None and np.ndim(r) == 1]
    if not arrays:
        return None
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack(arrays), axis=0)


def cell_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """:func:`per_task` plus, for ``ap`` with ``ap_boot`` present, the mean replicates per cell."""
    df = add_cell(results)
    pt = per_task(df, metric)
    if metric == "ap" and "ap_boot" in df:
        keys = ["method", "cell", "seed"]
        finite = df[np.isfinite(df["ap"].astype(float))]
        reps = finite.groupby(keys)["ap_boot"].agg(_mean_replicates).rename("boot").reset_index()
        pt = pt.merge(reps, on=keys, how="left")
    return pt


def display_name(method: str, oracle: bool, control: bool) -> str:
    """``oracle (ORACLE)``, ``random (control)`` or the plain name."""
    return f"{method} (ORACLE)" if oracle else f"{method} (control)" if control else method


def _flag(pt: pd.DataFrame) -> pd.DataFrame:
    """Method names with the controls marked, as in every table."""
    return pt.assign(method=[display_name(m, o, c) for m, o, c in zip(pt.method, pt.is_oracle, pt.is_control)])


def ranked_table(results: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, pairs)`` of :func:`medstrata.scoring.paired_ranking` on the cells, controls unranked.

    The table also carries the mean over cells of the :data:`SECONDARY` metrics and ``n_slices``.
    """
    from medstrata.scoring import paired_ranking

    pt = cell_table(results, metric).rename(columns={"cell": "task"})
    finite = np.isfinite(pt[metric].astype(float))
    boot = "boot" if "boot" in pt and pt.loc[finite, "boot"].notna().all() else None
    controls = sorted(set(pt.loc[pt.is_control, "method"]))
    table, pairs = paired_ranking(pt, metric, controls=controls, boot=boot, key=("medstrata.run",))
    extra = {m: per_task(add_cell(results), m).groupby("method")[m].mean() for m in SECONDARY if m in results}
    for m, series in extra.items():
        table[m] = table["method"].map(series)
    if "n_slices" in results:
        table["n_slices"] = table["method"].map(results.groupby("method")["n_slices"].max())
    flags = pt.groupby("method")[["is_oracle", "is_control"]].first()
    table["method"] = [display_name(m, *flags.loc[m]) for m in table["method"]]
    table.attrs["within_cell"] = boot is not None
    return table, pairs


def _fmt(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.3f}"


def format_table(table: pd.DataFrame, metric: str) -> str:
    """Markdown: ranked methods, then a separated block of control (reference) rows."""
    extra = [c for c in SECONDARY if c in table]
    lines = [f"| rank | method | {metric} | 95% CI | " + " | ".join(extra) + " | cells |",
             "|---" * (5 + len(extra)) + "|"]
    for role in ("ranked", "control"):
        rows = table[table.role == role]
        if role == "control" and len(rows):
            lines.append("| **controls (reference rows, not ranked)** |" + " |" * (4 + len(extra)))
        for r in rows.itertuples():
            rank = f"{int(r.rank)}" if np.isfinite(r.rank) else "ref"
            vals = " | ".join(_fmt(getattr(r, c)) for c in extra)
            lines.append(f"| {rank} | {r.method} | {r.mean:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
                         f"{vals} | {r.n_cells} |")
    return "\n".join(lines)


def format_pairs(pairs: pd.DataFrame, table: pd.DataFrame) -> str:
    """Markdown: every pairwise difference, higher mean first, in the order of the ranked table."""
    order = {m.split(" (")[0]: i for i, m in enumerate(table.method)}
    rows = []
    for r in pairs.itertuples():
        a, b, d, lo, hi = r.method_a, r.method_b, r.diff, r.ci_low, r.ci_high
        if d < 0 or (d == 0 and order.get(b, 0) < order.get(a, 0)):
            a, b, d, lo, hi = b, a, -d, -hi, -lo
        rows.append((order.get(a, 0), order.get(b, 0),
                     f"| {a} | {b} | {d:+.3f} | [{lo:+.3f}, {hi:+.3f}] | {r.p_holm:.3f} | "
                     f"{'yes' if r.significant else 'no'} |"))
    head = ["| better mean | other | difference | 95% CI | p (Holm) | significant |", "|---|---|---|---|---|---|"]
    return "\n".join(head + [line for *_, line in sorted(rows)])


def per_kind_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """mean ± std (over seeds) of ``metric`` per method and stratum kind, as a wide frame of strings."""
    pt = _flag(per_task(add_cell(results), metric))
    seeds = pt.groupby(["method", "kind", "seed"])[metric].mean().reset_index()
    agg = seeds.groupby(["method", "kind"])[metric].agg(["mean", lambda v: v.std(ddof=1)])
    agg.columns = ["mean", "std"]
    return agg.apply(lambda r: f"{r['mean']:.2f}±{r['std']:.2f}", axis=1).unstack("kind")


def saturation_note(results: pd.DataFrame, metric: str, ceiling: float = 0.95) -> str:
    """One line: the non-control methods whose mean ``metric`` on a whole stratum kind is >= ceiling."""
    pt = per_task(add_cell(results), metric)
    means = pt[~pt.is_control].groupby(["method", "kind"])[metric].mean()
    hits = [f"{m} on {k} ({v:.3f})" for (m, k), v in means.items() if v >= ceiling]
    if not hits:
        return f"Saturation check: no ranked method reaches a mean {metric} of {ceiling} on any stratum kind."
    return (f"Saturation check: **{metric} ≥ {ceiling} on a whole kind** for " + ", ".join(hits)
            + ": this kind no longer separates those methods at this severity.")


def reference_table(reference: pd.DataFrame) -> pd.DataFrame:
    """Worst-group metrics of the reference models per task cell: mean over seeds."""
    ref = add_cell(reference)
    cols = [c for c in ("acc_avg", "acc_wg", "auroc_avg", "auroc_wg", "gap_rel", "acc_group_mean", "acc_adjusted") if c in ref]
    ref["setting"] = [short_setting(k, p) for k, p in zip(ref["kind"], ref["stratum_params"])]
    out = ref.groupby(["dataset", "kind", "setting"])[cols].mean()
    out["gap_pts"] = 100 * (out["acc_avg"] - out["acc_wg"])
    return out.reset_index()


def knob_of(kind: str) -> str | None:
    """The severity knob a stratum kind declares (None for an unknown kind, e.g. ``none``)."""
    from medstrata.registry import UnknownNameError
    from medstrata.strata import declaration

    try:
        return declaration(kind)["knob"]
    except UnknownNameError:
        return None


def short_setting(kind: str, params_json: str) -> str:
    """``p=0.05``: the severity knob of a stratum kind, for tables."""
    import json

    params = json.loads(params_json)
    knob = knob_of(kind)
    return f"{knob}={params[knob]:g}" if knob in params else ""


LEGEND = [
    "How to read this (definitions: [{doc}]({doc})):",
    "",
    "- **{metric}** (the ranked, primary metric): AP of the matched slice or complement, with the match "
    "chosen on one half of test and scored on the other, both ways, averaged (§1, split-half matching); "
    "per task the mean over its true strata, then the mean over seeds and over tasks.",
    "- **95% CI**: hierarchical paired bootstrap (seeds within tasks, test samples within a cell) (§3).",
    "- **rank**: 1 + the number of methods significantly better (paired bootstrap, Holm–Bonferroni over "
    "all pairs, α = 0.05), then made monotone in the mean: no method ranks above one with a higher mean "
    "(§3). Equal ranks are ties that these seeds cannot separate.",
    "- **p_at_10**: expected precision of the top 10 (ties averaged over their orders), split-half (§1). "
    "**p_at_10_dcbench**: the same with the match chosen and scored on all of test (the dcbench/Domino "
    "protocol; optimistic, for comparison only). **auroc**: split-half AUROC of the match.",
    "- **split_agreement**: share of (stratum, cell) rows where both halves choose the same slice "
    "(and complement flag) (§1).",
    "- **cells**: (task, seed) cells every method has, so all comparisons are paired. Controls (the "
    "oracle reads the true strata; random scores at random) are reference rows and are not ranked.",
]


def write_markdown(path: Path, suite: str, metric: str, ranking: tuple[pd.DataFrame, pd.DataFrame],
                   results: pd.DataFrame, reference: pd.DataFrame, header: dict,
                   plots: list[tuple[str, str]] = ()) -> None:
    """summary.md: header, legend, ranked table, pairwise differences, per-kind table, reference
    models and the list of plots."""
    table, pairs = ranking
    within = "test samples within cells and seeds within tasks" if table.attrs.get("within_cell") else \
        "seeds within tasks only (no within-cell replicates for this metric)"
    parts = [f"# MedStrata results: suite `{suite}`", ""]
    parts += [f"- {k}: {v}" for k, v in header.items()]
    parts += ["", *[line.format(doc=METRICS_DOC, metric=metric) for line in LEGEND], "",
              f"## Ranking by {metric}", "", f"Bootstrap resamples {within}.", "",
              format_table(table, metric), "",
              "## Pairwise differences (ranked methods)", "",
              "Difference of the means over tasks, with its paired 95% bootstrap interval and the "
              "Holm–Bonferroni adjusted p-value.", "", format_pairs(pairs, table), "",
              f"## {metric} per stratum kind (mean ± std over seeds)", "",
              per_kind_table(results, metric).to_markdown(), "", saturation_note(results, metric), "",
              "## Reference models on test (mean over seeds)", "",
              "Worst group over class × stratum groups, keyed by the clean label (§2).", "",
              reference_table(reference).to_markdown(index=False, floatfmt=".3f"), ""]
    if plots:
        parts += ["## Plots", "", *[f"- `{name}`: {what}" for name, what in plots], ""]
    path.write_text("\n".join(parts))


def plot_recovery(results: pd.DataFrame, metric: str, path: Path) -> None:
    """Grouped bars: ``metric`` per method and stratum kind, error bars = std over seeds (never
    clipped: the y range covers every bar); controls drawn right of a dashed separator."""
    from matplotlib.figure import Figure  # no global backend switch: safe inside any host program

    pt = _flag(per_task(add_cell(results), metric))
    seeds = pt.groupby(["method", "is_control", "kind", "seed"])[metric].mean().reset_index()
    agg = seeds.groupby(["method", "is_control", "kind"])[metric].agg(["mean", "std"]).reset_index()
    ctrl = agg.groupby("method")["is_control"].first()
    methods = sorted(ctrl.index, key=lambda m: (bool(ctrl[m]), m))
    kinds = sorted(agg.kind.unique())
    fig = Figure(figsize=(max(8, len(methods) * 1.1), 4.5))
    ax = fig.subplots()
    width = 0.8 / max(len(kinds), 1)
    for j, kind in enumerate(kinds):
        sub = agg[agg.kind == kind].set_index("method").reindex(methods)
        ax.bar(np.arange(len(methods)) + j * width, sub["mean"], width, yerr=sub["std"].fillna(0), capsize=2, label=kind)
    n_ranked = int((~ctrl[methods].astype(bool)).sum())
    if 0 < n_ranked < len(methods):
        ax.axvline(n_ranked - 0.1, color="k", ls="--", lw=1)
        ax.text(n_ranked, 0.02, "controls (not ranked)", fontsize=8, transform=ax.get_xaxis_transform())
    ax.set_xticks(np.arange(len(methods)) + width * (len(kinds) - 1) / 2, methods, rotation=30, ha="right")
    ax.set_ylabel(metric)
    top, bottom = (agg["mean"] + agg["std"].fillna(0)).max(), (agg["mean"] - agg["std"].fillna(0)).min()
    ax.set_ylim(min(0.0, bottom) - 0.02, max(1.0, top) + 0.05)
    ax.set_title(f"Stratum recovery ({metric}) per method and stratum kind; error bars: std over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_dose_response(results: pd.DataFrame, metric: str, path: Path) -> bool:
    """One panel per kind: ``metric`` against severity, a line per method. False if no severities."""
    import json

    from matplotlib.figure import Figure

    pt = _flag(per_task(add_cell(results), metric))
    pt["severity"] = [float(json.loads(p).get(knob_of(k) or "", np.nan)) for k, p in zip(pt.kind, pt.stratum_params)]
    pt = pt[np.isfinite(pt.severity.astype(float))]
    if pt.empty or pt.groupby("kind").severity.nunique().max() < 2:
        return False
    kinds = sorted(pt.kind.unique())
    fig = Figure(figsize=(4 * len(kinds), 3.6))
    axes = fig.subplots(1, len(kinds), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        sub = pt[pt.kind == kind].groupby(["method", "severity"])[metric].agg(["mean", "std"]).reset_index()
        for method, g in sub.groupby("method"):
            ax.errorbar(g.severity, g["mean"], yerr=g["std"].fillna(0), marker="o", ms=3, capsize=2, label=method)
        ax.set_title(kind)
        ax.set_xlabel(f"severity: {knob_of(kind) or 'knob'}")
        ax.set_ylabel(metric)
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True
