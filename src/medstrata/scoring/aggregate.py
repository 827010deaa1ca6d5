"""Aggregation over seeds and tasks: mean, std, bootstrap interval, and a tie-aware ranking.

**summarize(values, key)** over the finite values v_1..v_n (NaN values are dropped and counted in
``n_nan``):

* ``mean``; ``std`` with ddof = 1 (NaN for n < 2);
* ``ci_low``, ``ci_high``: 95 % percentile bootstrap interval of the mean. B = 2000 resamples of n
  values with replacement, drawn from ``np.random.default_rng(keyed_seed("summarize", *key))``
  (never the global RNG; the same key and values give the same interval). The bounds are the
  2.5 % and 97.5 % quantiles of the B resampled means (``np.quantile``, linear interpolation).
* Fewer than ``min_n = 3`` finite values: ``ci_low = ci_high = NaN``, ``ci_valid = False`` and
  ``ci_reason`` says why; no exception.

**rank_methods(df, metric)** on flat result records with columns ``method``, ``task``, ``seed`` and
the metric column:

1. Tasks: only tasks that every method has rows for are used (``n_tasks``; the others are counted
   in ``n_tasks_dropped``), so every method is averaged over the same tasks.
2. Per method and seed: the mean of the metric over those tasks. A seed is used only if the method
   has a finite value for every used task at that seed (``n_seeds``).
3. Per method: :func:`summarize` of its per-seed values, keyed by ``(key, metric, method)``.
4. Rank (competition ranking with interval ties): among methods with a valid interval, the rank of
   method i is ``1 + #{j : CI_j lies entirely on the better side of CI_i}``, i.e. ``ci_low_j >
   ci_high_i`` when higher is better (``ci_high_j < ci_low_i`` when lower is better). Methods whose
   intervals overlap therefore share a rank unless a third method separates them. Methods without a
   valid interval get rank NaN and do not affect the others' ranks.
5. Rows sorted by rank (NaN last), then mean (best first), then method name.

Duplicate ``(method, task, seed)`` rows are an error (ValueError): they are ambiguous.

Citation::

    Efron and Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall 1993 (percentile
    interval).
    Gulrajani and Lopez-Paz, "In Search of Lost Domain Generalization" (DomainBed), ICLR 2021
    (means over seeds and tasks with their spread).
    Agarwal et al., "Deep Reinforcement Learning at the Edge of the Statistical Precipice",
    NeurIPS 2021 (interval estimates instead of point rankings).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from medstrata.hashing import keyed_seed

MIN_N_FOR_CI = 3
_RANK_COLUMNS = ("mean", "std", "ci_low", "ci_high", "n_seeds", "n_tasks", "n_tasks_dropped",
                 "ci_valid", "ci_reason")


def _key_parts(key: str | Sequence[Any]) -> tuple[Any, ...]:
    return (key,) if isinstance(key, str) else tuple(key)


def bootstrap_ci(
    values: np.ndarray, key: str | Sequence[Any], n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values (n,)`` (finite, n >= 1), keyed RNG."""
    rng = np.random.default_rng(keyed_seed("summarize", *_key_parts(key)))
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def summarize(
    values: ArrayLike,
    key: str | Sequence[Any],
    n_boot: int = 2000,
    level: float = 0.95,
    min_n: int = MIN_N_FOR_CI,
) -> dict[str, Any]:
    """Mean, std (ddof=1) and keyed percentile-bootstrap CI of per-seed values.

    Args:
        values: (n,) float, e.g. one metric over seeds. NaN entries are dropped.
        key: stable key of the quantity (str or tuple), seeds the bootstrap.
        n_boot: number of bootstrap resamples B.
        level: interval coverage.
        min_n: fewest finite values for an interval.

    Returns:
        ``{mean, std, ci_low, ci_high, n, n_nan, ci_valid, ci_reason}``.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    finite = v[np.isfinite(v)]
    n = len(finite)
    out: dict[str, Any] = {
        "mean": float(finite.mean()) if n else math.nan,
        "std": float(finite.std(ddof=1)) if n >= 2 else math.nan,
        "ci_low": math.nan, "ci_high": math.nan, "n": n, "n_nan": len(v) - n,
        "ci_valid": False, "ci_reason": f"fewer than {min_n} finite values (n={n})",
    }
    if n >= min_n:
        out["ci_low"], out["ci_high"] = bootstrap_ci(finite, key, n_boot, level)
        out["ci_valid"], out["ci_reason"] = True, ""
    return out


def interval_ranks(
    ci_low: ArrayLike, ci_high: ArrayLike, higher_is_better: bool = True
) -> np.ndarray:
    """(m,) float ranks: ``1 + #{j: CI_j entirely better than CI_i}``; NaN where a bound is NaN."""
    low, high = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
    valid = np.isfinite(low) & np.isfinite(high)
    if higher_is_better:
        better = low[None, :] > high[:, None]  # better[i, j]: j is entirely above i
    else:
        better = high[None, :] < low[:, None]
    better &= valid[None, :]
    ranks = 1.0 + better.sum(axis=1)
    return np.where(valid, ranks, np.nan)


def _per_seed_means(df: pd.DataFrame, metric: str, cols: tuple[str, str, str]):
    method_col, task_col, seed_col = cols
    tasks_by_method = df.groupby(method_col)[task_col].agg(lambda t: set(t))
    common = set.intersection(*tasks_by_method) if len(tasks_by_method) else set()
    all_tasks = set(df[task_col])
    sub = df[df[task_col].isin(common)]
    wide = sub.pivot(index=[method_col, seed_col], columns=task_col, values=metric)
    complete = wide[np.isfinite(wide.to_numpy(dtype=float)).all(axis=1)]
    return complete.mean(axis=1), len(common), len(all_tasks) - len(common)


def rank_methods(
    df: pd.DataFrame,
    metric: str,
    higher_is_better: bool = True,
    key: str | Sequence[Any] = "rank_methods",
    method_col: str = "method",
    task_col: str = "task",
    seed_col: str = "seed",
    n_boot: int = 2000,
) -> pd.DataFrame:
    """Rank methods by the mean over tasks of ``metric``, with overlapping 95 % CIs as ties.

    Args:
        df: flat result records, one row per (method, task, seed), with a ``metric`` column.
        metric: the column to rank by.
        higher_is_better: direction of the metric.
        key: stable key seeding every bootstrap (combined with metric and method).

    Returns:
        One row per method: ``method, rank, mean, std, ci_low, ci_high, n_seeds, n_tasks,
        n_tasks_dropped, ci_valid, ci_reason`` (see the module docstring for the rules).
    """
    cols = (method_col, task_col, seed_col)
    missing = [c for c in (*cols, metric) if c not in df.columns]
    if missing:
        raise ValueError(f"rank_methods: missing columns {missing}")
    if df.duplicated(list(cols)).any():
        raise ValueError("rank_methods: duplicate (method, task, seed) rows")
    if df.empty:
        return pd.DataFrame(columns=[method_col, "rank", *_RANK_COLUMNS])
    per_seed, n_tasks, n_dropped = _per_seed_means(df, metric, cols)
    rows = []
    for method in sorted(df[method_col].unique(), key=str):
        values = per_seed.xs(method, level=0).to_numpy() if method in per_seed.index else []
        s = summarize(values, (*_key_parts(key), metric, method), n_boot=n_boot)
        rows.append({method_col: method, "mean": s["mean"], "std": s["std"],
                     "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n_seeds": s["n"],
                     "n_tasks": n_tasks, "n_tasks_dropped": n_dropped,
                     "ci_valid": s["ci_valid"], "ci_reason": s["ci_reason"]})
    out = pd.DataFrame(rows)
    out.insert(1, "rank", interval_ranks(out["ci_low"], out["ci_high"], higher_is_better))
    order = out["mean"] * (-1 if higher_is_better else 1)
    out = out.assign(_o=order).sort_values(["rank", "_o", method_col], na_position="last")
    return out.drop(columns="_o").reset_index(drop=True)
