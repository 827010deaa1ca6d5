"""Tables of the mitigation part of a run's summary (definitions: ``docs/mitigation.md``).

The unit is a (task cell, stratum column): a multi-stratum task has one per stratum. Per unit, over
the seeds: the ERM head's and the oracle-group head's test ``acc_wg`` (mean and 95 % percentile
bootstrap interval over seeds, :func:`medstrata.scoring.summarize`), their paired difference, and
each method's gap closed (ratio of means with a paired seed bootstrap,
:func:`medstrata.scoring.gap_closed.gap_closed_over_seeds`); "undefined (oracle ≈ reference)" where the
oracle beats the reference (the no-group head; ERM for ``gap_closed_erm``) by less than ``MIN_GAP``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from medstrata.runner.report import add_cell, display_name, short_setting
from medstrata.scoring.aggregate import summarize
from medstrata.scoring.gap_closed import MIN_GAP, gap_closed_over_seeds

UNIT = ["cell", "stratum_column"]
UNDEFINED = "undefined (oracle ≈ reference)"


def _fmt(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.3f}"


def _interval(s: dict) -> str:
    return f"{_fmt(s['mean'] if 'mean' in s else s['gap_closed'])} [{_fmt(s['ci_low'])}, {_fmt(s['ci_high'])}]"


def method_units(results: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, cell, stratum column, seed): mitigation columns, mean over random states."""
    df = add_cell(results.drop_duplicates(["result_id", "stratum_column"]))
    df = df.assign(method=[display_name(m, bool(o), bool(c)) for m, o, c in
                           zip(df.method, df.is_oracle, df.get("is_control", df.is_oracle))])
    cols = ["acc_wg_mitigated", "auroc_wg_mitigated", "acc_wg_erm", "acc_wg_oracle_mitigated", "acc_wg_nogroups"]
    return df.groupby(["method", *UNIT, "seed"], as_index=False)[cols].mean()


def reference_table(refs: pd.DataFrame) -> pd.DataFrame:
    """Per unit: ERM, no-group and oracle-group acc_wg over seeds, the paired oracle - ERM and oracle -
    no groups; ``gap`` says whether the primary gap (vs no groups) is defined."""
    rows = []
    for (cell, col), g in add_cell(refs).groupby(UNIT):
        g = g.sort_values("seed")
        e, o = g.acc_wg_erm.to_numpy(float), g.acc_wg_oracle_mitigated.to_numpy(float)
        diff = summarize(o - e, ("mitigation", "oracle-erm", cell, col))
        primary = summarize(o - g.acc_wg_nogroups.to_numpy(float), ("mitigation", "oracle-nogroups", cell, col))
        rows.append({"cell": cell, "stratum_column": col, "seeds": len(g),
                     "acc_wg ERM head": _interval(summarize(e, ("mitigation", "erm", cell, col))),
                     "acc_wg no groups": _interval(summarize(g.acc_wg_nogroups, ("mitigation", "nogroups", cell, col))),
                     "acc_wg oracle groups": _interval(summarize(o, ("mitigation", "oracle", cell, col))),
                     "oracle - ERM": _interval(diff), "oracle - no groups": _interval(primary),
                     "gap (vs no groups)": "defined" if primary["mean"] >= MIN_GAP else UNDEFINED,
                     "gap_erm": "defined" if diff["mean"] >= MIN_GAP else UNDEFINED})
    return pd.DataFrame(rows)


def kind_table(refs: pd.DataFrame, n_boot: int = 2000) -> pd.DataFrame:
    """Per stratum kind: does the strategy with the **oracle** groups beat the ERM head on test
    ``acc_wg``? ``oracle - ERM`` is the mean over the kind's units (cell x stratum column) of each
    unit's mean over seeds; its 95 % interval is a percentile bootstrap that resamples the seeds
    within every unit (the units are fixed: the suite's tasks), generator keyed by the kind.
    ``verdict``: "improves" when the interval lies above 0, "hurts" below 0, else "inside the noise";
    ``units improved`` counts the units whose own mean is above 0."""
    from medstrata.hashing import keyed_seed

    rows = []
    for kind, g in add_cell(refs).groupby("kind"):
        diffs = [u.sort_values("seed").eval("acc_wg_oracle_mitigated - acc_wg_erm").to_numpy(float)
                 for _, u in g.groupby(UNIT)]
        rng = np.random.default_rng(keyed_seed("mitigation", "kind_table", kind))
        boot = np.mean([d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1) for d in diffs], axis=0)
        lo, hi = np.quantile(boot, [0.025, 0.975])
        rows.append({"kind": kind, "units": len(diffs), "seeds": int(sum(len(d) for d in diffs)),
                     "acc_wg ERM head": float(g.acc_wg_erm.mean()),
                     "acc_wg oracle groups": float(g.acc_wg_oracle_mitigated.mean()),
                     "oracle - ERM": float(np.mean([d.mean() for d in diffs])), "ci_low": float(lo), "ci_high": float(hi),
                     "units improved": f"{sum(d.mean() > 0 for d in diffs)} of {len(diffs)}",
                     "verdict": "improves" if lo > 0 else ("hurts" if hi < 0 else "inside the noise")})
    return pd.DataFrame(rows)


def gap_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per (method, unit): mean acc_wg/auroc_wg after mitigation and the gap closed over seeds,
    against the strategy without groups (``gap_closed``) and against the ERM head (``..._erm``)."""
    rows = []
    for (method, cell, col), g in method_units(results).groupby(["method", *UNIT]):
        g = g.sort_values("seed")
        row = {"method": method, "cell": cell, "stratum_column": col,
               "acc_wg_mitigated": float(g.acc_wg_mitigated.mean()),
               "auroc_wg_mitigated": float(g.auroc_wg_mitigated.mean())}
        for suffix, ref in (("", "acc_wg_nogroups"), ("_erm", "acc_wg_erm")):
            s = gap_closed_over_seeds(g.acc_wg_mitigated, g[ref], g.acc_wg_oracle_mitigated,
                                      ("mitigation", suffix, method, cell, col))
            row.update({f"gap_closed{suffix}": s["gap_closed"], f"ci_low{suffix}": s["ci_low"],
                        f"ci_high{suffix}": s["ci_high"], f"defined{suffix}": s["defined"], "seeds": s["n"]})
        rows.append(row)
    return pd.DataFrame(rows)


def method_summary(gaps: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean acc_wg/auroc_wg after mitigation over units, and each gap closed averaged over
    the units where it is defined (``units_defined`` counts them for the primary, no-group reference)."""
    agg = gaps.groupby("method").agg(acc_wg_mitigated=("acc_wg_mitigated", "mean"),
                                     auroc_wg_mitigated=("auroc_wg_mitigated", "mean"),
                                     gap_closed=("gap_closed", "mean"),
                                     gap_closed_erm=("gap_closed_erm", "mean"),
                                     units_defined=("defined", "sum"), units=("defined", "size"))
    return agg.sort_values("gap_closed", ascending=False, na_position="last").reset_index()


def _texts(gaps: pd.DataFrame, suffix: str) -> list[str]:
    return [UNDEFINED if not d else f"{_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]" for d, v, lo, hi in
            zip(gaps[f"defined{suffix}"], gaps[f"gap_closed{suffix}"], gaps[f"ci_low{suffix}"], gaps[f"ci_high{suffix}"])]


def short_labels(df: pd.DataFrame) -> dict[str, str]:
    """{cell: ``dataset[target] kind knob=value``}: the cells of ``df`` as short table labels."""
    cells = add_cell(df).drop_duplicates("cell")
    return {c: f"{d}[{t}] {k} {short_setting(k, p)}".strip()
            for c, d, t, k, p in zip(cells.cell, cells.dataset, cells.target, cells.kind, cells.stratum_params)}


def markdown(results: pd.DataFrame, refs: pd.DataFrame, strategy: str) -> list[str]:
    """The summary's mitigation section, as lines (cells shortened by :func:`short_labels`; the
    full cell strings are in ``results.csv`` and ``mitigation.csv``)."""
    labels = short_labels(results)
    gaps = gap_table(results)
    gaps = gaps.assign(unit=gaps.cell.map(labels) + " " + gaps.stratum_column, text=_texts(gaps, ""),
                       text_erm=_texts(gaps, "_erm"))
    ref_table = reference_table(refs).assign(cell=lambda t: t.cell.map(labels).fillna(t.cell))
    lines = [f"## Mitigation with discovered groups (`{strategy}`, last layer on frozen features)", "",
             "Each method's groups (class x the slice that claims a sample with score >= 0.5, else the rest; "
             "on train and val, never test) retrain the "
             f"reference model's last layer with `{strategy}`; test acc_wg on the true strata. "
             "gap_closed = (method - no groups) / (oracle - no groups), the reference being the same strategy "
             "without discovered groups (the classes as groups); gap_closed_erm uses the ERM head instead "
             f"(random groups close much of that gap by class balancing alone); undefined where oracle - reference < {MIN_GAP:.2f}. "
             "Intervals: percentile bootstrap over seeds (about 75 % coverage with 3 seeds). See docs/mitigation.md.", "",
             "### References per task", "", ref_table.to_markdown(index=False), "",
             "### Oracle groups vs the ERM head, per stratum kind", "",
             "Mean over the kind's units of the paired oracle - ERM test acc_wg; 95 % interval: bootstrap of "
             "the seeds within each unit (docs/mitigation.md §6b).", "",
             kind_table(refs).to_markdown(index=False, floatfmt=".3f"), "",
             "### Per method (mean over the units where each gap is defined)", "",
             method_summary(gaps).to_markdown(index=False, floatfmt=".3f"), ""]
    for col, title in (("text", "gap_closed (vs no groups)"), ("text_erm", "gap_closed_erm (vs ERM)")):
        lines += [f"### {title} per method and task (95 % interval over seeds)", "",
                  gaps.pivot(index="method", columns="unit", values=col).to_markdown(), ""]
    return lines
