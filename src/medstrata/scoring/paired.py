"""Paired comparison and ranking of methods with a hierarchical bootstrap.

**Input.** One value per (method, task, seed) *cell* (e.g. the split-half AP averaged over the
task's strata), optionally with ``B_cell`` within-cell replicates of that value computed on
resampled test sets that are shared by every method of the cell (see
:mod:`medstrata.scoring.resample`).

**Cells.** Only the (task, seed) cells where *every* method (ranked or control) has a finite value
are used, so every comparison is paired (``n_cells``; the rest are counted in ``n_cells_dropped``).
A method's point value is the mean over tasks of its mean over the task's seeds.

**Hierarchical bootstrap** (B = ``n_boot`` outer replicates, by default
``max(2000, ceil(4 * n_pairs / alpha))``; generator keyed by ``key``). In
replicate b, for each task: draw its seeds with replacement; for each drawn cell draw one of its
``B_cell`` within-cell replicates (without replicates the cell's value is used: seeds are then the
only level). The replicate's value of a method is the mean over tasks of the mean over the drawn
cells. The draws are the same for every method, so differences are paired.

* Each method: ``mean`` and the ``level`` percentile interval ``[ci_low, ci_high]``.
* Each pair (a, b) of ranked methods: ``diff = mean_a - mean_b``, its percentile interval, and a
  two-sided bootstrap p-value ``min(1, 2 * min(#(d_b <= 0) + 1, #(d_b >= 0) + 1) / (B + 1))``.
  The p-values of all pairs are adjusted with **Holm-Bonferroni** (step-down, family-wise error
  ``alpha``); a pair is *significant* when its adjusted p-value is <= ``alpha``.

**Rank** (ranked methods only; controls get NaN and ``role = "control"``):

1. ``n_better_i`` = the number of methods j significantly better than i (significant pair with
   ``mean_j > mean_i``); raw rank = ``1 + n_better_i``.
2. Monotone in the mean: ``rank_i = max(raw rank_j for every ranked j with mean_j >= mean_i)``. So
   a method is never ranked above a method with a higher mean, even when a wide spread keeps it
   from being significantly worse than the methods above both of them.

Citation::

    Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6, 1979.
    Davison and Hinkley, "Bootstrap Methods and their Application", CUP 1997, sec. 3.8
    (hierarchical resampling).
    Agarwal et al., "Deep Reinforcement Learning at the Edge of the Statistical Precipice",
    NeurIPS 2021 (interval estimates and paired comparisons instead of point rankings).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Sequence

import numpy as np
import pandas as pd

from medstrata.hashing import keyed_seed


def holm_adjust(p: Sequence[float]) -> np.ndarray:
    """(P,) Holm-Bonferroni adjusted p-values: ``max_{s <= r} min(1, (P - s) p_(s))`` in sorted order."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.maximum.accumulate(scaled)
    return out


def _cell_arrays(df: pd.DataFrame, metric: str, boot: str | None, methods: list[str]):
    """V (M, C), R (M, C, B_cell), task of each cell (C,), number of dropped cells."""
    wide = df.pivot(index=["task", "seed"], columns="method", values=metric).reindex(columns=methods)
    ok = np.isfinite(wide.to_numpy(dtype=float)).all(axis=1)
    cells = wide.index[ok]
    values = wide.to_numpy(dtype=float)[ok].T
    if boot is None:
        reps = values[:, :, None]
    else:
        by_key = {(r.method, r.task, r.seed): r.rep for r in
                  df[["method", "task", "seed", boot]].rename(columns={boot: "rep"}).itertuples()}
        reps = np.stack([np.stack([np.asarray(by_key[(m, t, s)], dtype=float) for t, s in cells])
                         for m in methods]) if len(cells) else np.zeros((len(methods), 0, 1))
        reps = np.where(np.isfinite(reps), reps, values[:, :, None])
    tasks = np.asarray([t for t, _ in cells], dtype=object)
    return values, reps, tasks, int((~ok).sum())


def hierarchical_bootstrap(values: np.ndarray, reps: np.ndarray, tasks: np.ndarray,
                           key: Sequence[Any], n_boot: int) -> tuple[np.ndarray, np.ndarray]:
    """Point values (M,) and bootstrap replicates (M, n_boot) of the mean over tasks of seed means.

    Args:
        values: (M, C) cell values. reps: (M, C, B_cell) within-cell replicates.
        tasks: (C,) task of each cell. key: stable key of the generator.
    """
    rng = np.random.default_rng(keyed_seed("paired_bootstrap", *key))
    uniq = sorted(set(tasks.tolist()), key=str)
    point = np.zeros(values.shape[0])
    stat = np.zeros((values.shape[0], n_boot))
    for task in uniq:
        cells = np.flatnonzero(tasks == task)
        point += values[:, cells].mean(axis=1)
        pick = cells[rng.integers(0, len(cells), size=(n_boot, len(cells)))]
        within = rng.integers(0, reps.shape[2], size=(n_boot, len(cells)))
        stat += reps[:, pick, within].mean(axis=2)
    return point / len(uniq), stat / len(uniq)


def _pairs(methods, point, stat, ranked, level, alpha) -> pd.DataFrame:
    rows = []
    q = [(1 - level) / 2, (1 + level) / 2]
    for a, b in combinations([i for i in range(len(methods)) if ranked[i]], 2):
        d = stat[a] - stat[b]
        lo, hi = np.quantile(d, q)
        tail = min((d <= 0).sum() + 1, (d >= 0).sum() + 1)
        rows.append({"method_a": methods[a], "method_b": methods[b], "diff": point[a] - point[b],
                     "ci_low": float(lo), "ci_high": float(hi),
                     "p": float(min(1.0, 2 * tail / (len(d) + 1)))})
    pairs = pd.DataFrame(rows, columns=["method_a", "method_b", "diff", "ci_low", "ci_high", "p"])
    pairs["p_holm"] = holm_adjust(pairs["p"]) if len(pairs) else []
    pairs["significant"] = pairs["p_holm"] <= alpha
    return pairs


def _ranks(methods, point, ranked, pairs) -> tuple[np.ndarray, np.ndarray]:
    pos = {m: i for i, m in enumerate(methods)}
    better = np.zeros(len(methods), dtype=int)
    for r in pairs[pairs.significant].itertuples():
        a, b = pos[r.method_a], pos[r.method_b]
        if point[a] != point[b]:
            better[b if point[a] > point[b] else a] += 1
    raw = 1.0 + better
    rank = np.full(len(methods), np.nan)
    for i in np.flatnonzero(ranked):
        above = ranked & (point >= point[i])
        rank[i] = raw[above].max()
    return rank, better


def paired_ranking(
    df: pd.DataFrame,
    metric: str,
    controls: Sequence[str] = (),
    boot: str | None = None,
    key: Sequence[Any] = ("paired_ranking",),
    n_boot: int | None = None,
    level: float = 0.95,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rank methods by ``metric`` with paired, hierarchical-bootstrap comparisons (module docstring).

    Args:
        df: one row per (method, task, seed) with columns ``method, task, seed, <metric>`` and, when
            ``boot`` is given, a column ``boot`` holding a (B_cell,) array per row.
        metric: the column to rank by (higher is better).
        controls: method names shown as reference rows, not ranked.
        key: stable key of the bootstrap generator.
        n_boot: outer replicates; default ``max(2000, ceil(4 * n_pairs / alpha))``, so that the
            smallest attainable p-value, 2 / (B + 1), survives Holm's factor n_pairs.

    Returns:
        ``(table, pairs)``: table has one row per method (``method, role, rank, n_better, mean,
        ci_low, ci_high, n_tasks, n_cells, n_cells_dropped``), ranked methods first by rank then
        mean, controls last; pairs has ``method_a, method_b, diff, ci_low, ci_high, p, p_holm,
        significant`` for every pair of ranked methods.
    """
    missing = [c for c in ("method", "task", "seed", metric, *([boot] if boot else [])) if c not in df]
    if missing:
        raise ValueError(f"paired_ranking: missing columns {missing}")
    if df.duplicated(["method", "task", "seed"]).any():
        raise ValueError("paired_ranking: duplicate (method, task, seed) rows")
    methods = sorted(df["method"].unique().tolist(), key=str)
    values, reps, tasks, dropped = _cell_arrays(df, metric, boot, methods)
    if values.shape[1] == 0:
        raise ValueError(f"paired_ranking: no (task, seed) cell has a finite {metric} for every method")
    ranked = np.array([m not in set(controls) for m in methods])
    n_pairs = int(ranked.sum()) * (int(ranked.sum()) - 1) // 2
    n_boot = max(2000, int(np.ceil(4 * n_pairs / alpha))) if n_boot is None else int(n_boot)
    point, stat = hierarchical_bootstrap(values, reps, tasks, (*key, metric), n_boot)
    pairs = _pairs(methods, point, stat, ranked, level, alpha)
    rank, better = _ranks(methods, point, ranked, pairs)
    lo, hi = np.quantile(stat, [(1 - level) / 2, (1 + level) / 2], axis=1)
    table = pd.DataFrame({"method": methods, "role": np.where(ranked, "ranked", "control"),
                          "rank": rank, "n_better": np.where(ranked, better, -1), "mean": point,
                          "ci_low": lo, "ci_high": hi, "n_tasks": len(set(tasks.tolist())),
                          "n_cells": values.shape[1], "n_cells_dropped": dropped})
    table = table.assign(_c=~ranked, _o=-point).sort_values(["_c", "rank", "_o", "method"])
    return table.drop(columns=["_c", "_o"]).reset_index(drop=True), pairs
