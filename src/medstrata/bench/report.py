"""Turn flat result records into the ranked table, the Markdown summary and the plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

RECOVERY_METRICS = ("p_at_10", "p_at_25", "ap", "auroc", "f1", "ari", "ami")


def add_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``cell`` = dataset[target]/kind/params (+ the task's strata when it has several): the
    stratum of a task *before* seeding (task ids differ per seed)."""
    name = df["dataset"] + ("[" + df["target"] + "]" if "target" in df else "")
    if "task_strata" in df:
        name = name + np.where(df["task_strata"].str.contains(r"\+", regex=True), "{" + df["task_strata"] + "}", "")
    return df.assign(cell=name + "/" + df["kind"] + "/" + df["stratum_params"])


def per_task(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (method, cell, seed): the mean of ``metric`` over the task's true strata."""
    keys = ["method", "is_oracle", "cell", "dataset", "kind", "stratum_params", "seed"]
    return df.groupby(keys, as_index=False)[metric].mean()


def _flag_oracle(pt: pd.DataFrame) -> pd.DataFrame:
    """Method names with the oracle control marked ``(ORACLE)``, as in every table."""
    return pt.assign(method=[f"{m} (ORACLE)" if o else m for m, o in zip(pt.method, pt.is_oracle)])


def ranked_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Methods ranked by ``metric`` averaged over tasks, with interval ties; the oracle is flagged."""
    from medstrata.scoring import rank_methods

    pt = per_task(add_cell(results), metric)
    table = rank_methods(pt, metric, task_col="cell", key=("medstrata.run", metric))
    flags = pt.groupby("method")["is_oracle"].first()
    table["method"] = [f"{m} (ORACLE)" if flags.get(m, False) else m for m in table["method"]]
    return table


def format_table(table: pd.DataFrame, metric: str) -> str:
    lines = [f"| rank | method | {metric} mean ± std | 95% CI | seeds | tasks |", "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        rank = "-" if not np.isfinite(r.rank) else f"{int(r.rank)}"
        lines.append(f"| {rank} | {r.method} | {r.mean:.3f} ± {r.std:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] "
                     f"| {r.n_seeds} | {r.n_tasks} |")
    return "\n".join(lines)


def per_kind_table(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """mean ± std (over seeds) of ``metric`` per method and stratum kind, as a wide frame of strings."""
    pt = _flag_oracle(per_task(add_cell(results), metric))
    seeds = pt.groupby(["method", "kind", "seed"])[metric].mean().reset_index()
    agg = seeds.groupby(["method", "kind"])[metric].agg(["mean", lambda v: v.std(ddof=1)])
    agg.columns = ["mean", "std"]
    return agg.apply(lambda r: f"{r['mean']:.2f}±{r['std']:.2f}", axis=1).unstack("kind")


def reference_table(reference: pd.DataFrame) -> pd.DataFrame:
    """Worst-group metrics of the reference models per task cell: mean over seeds."""
    ref = add_cell(reference)
    cols = [c for c in ("acc_avg", "acc_wg", "auroc_avg", "auroc_wg", "gap_rel", "acc_group_mean", "acc_adjusted") if c in ref]
    ref["setting"] = [short_setting(k, p) for k, p in zip(ref["kind"], ref["stratum_params"])]
    out = ref.groupby(["dataset", "kind", "setting"])[cols].mean()
    out["gap_pts"] = 100 * (out["acc_avg"] - out["acc_wg"])
    return out.reset_index()


KNOBS = {"rare_subclass": "p", "label_noise": "r", "subtle_feature": "strength", "spurious_marker": "rho"}


def short_setting(kind: str, params_json: str) -> str:
    """``p=0.05``: the severity knob of a stratum kind, for tables."""
    import json

    params = json.loads(params_json)
    knob = KNOBS.get(kind)
    return f"{knob}={params[knob]:g}" if knob in params else ""


def write_markdown(path: Path, suite: str, metric: str, table: pd.DataFrame, results: pd.DataFrame,
                   reference: pd.DataFrame, header: dict) -> None:
    parts = [f"# MedStrata results: suite `{suite}`", ""]
    parts += [f"- {k}: {v}" for k, v in header.items()]
    parts += ["", f"## Ranking by {metric} (mean over tasks and true strata; ties = overlapping 95% bootstrap CIs)", "",
              format_table(table, metric), "", f"## {metric} per stratum kind (mean ± std over seeds)", "",
              per_kind_table(results, metric).to_markdown(), "",
              "## Reference models on test (mean over seeds): worst group = class × stratum", "",
              reference_table(reference).to_markdown(index=False, floatfmt=".3f"), ""]
    path.write_text("\n".join(parts))


def plot_recovery(results: pd.DataFrame, metric: str, path: Path) -> None:
    """Grouped bars: ``metric`` per method and stratum kind, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pt = _flag_oracle(per_task(add_cell(results), metric))
    seeds = pt.groupby(["method", "kind", "seed"])[metric].mean().reset_index()
    agg = seeds.groupby(["method", "kind"])[metric].agg(["mean", "std"]).reset_index()
    methods, kinds = sorted(agg.method.unique()), sorted(agg.kind.unique())
    fig, ax = plt.subplots(figsize=(max(8, len(methods) * 1.1), 4.5))
    width = 0.8 / max(len(kinds), 1)
    for j, kind in enumerate(kinds):
        sub = agg[agg.kind == kind].set_index("method").reindex(methods)
        ax.bar(np.arange(len(methods)) + j * width, sub["mean"], width, yerr=sub["std"].fillna(0), capsize=2, label=kind)
    ax.set_xticks(np.arange(len(methods)) + width * (len(kinds) - 1) / 2, methods, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Stratum recovery ({metric}) per method and stratum kind; error bars: std over seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_dose_response(results: pd.DataFrame, metric: str, path: Path) -> bool:
    """One panel per kind: ``metric`` against severity, a line per method. False if no severities."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pt = _flag_oracle(per_task(add_cell(results), metric))
    pt["severity"] = [float(json.loads(p).get(KNOBS.get(k, ""), np.nan)) for k, p in zip(pt.kind, pt.stratum_params)]
    pt = pt[np.isfinite(pt.severity.astype(float))]
    if pt.empty or pt.groupby("kind").severity.nunique().max() < 2:
        return False
    kinds = sorted(pt.kind.unique())
    fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 3.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        sub = pt[pt.kind == kind].groupby(["method", "severity"])[metric].agg(["mean", "std"]).reset_index()
        for method, g in sub.groupby("method"):
            ax.errorbar(g.severity, g["mean"], yerr=g["std"].fillna(0), marker="o", ms=3, capsize=2, label=method)
        ax.set_title(kind)
        ax.set_xlabel(f"severity: {KNOBS.get(kind, 'knob')}")
        ax.set_ylabel(metric)
    axes[0][-1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
