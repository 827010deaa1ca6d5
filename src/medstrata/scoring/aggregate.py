"""Aggregation over seeds: mean, std and a keyed bootstrap interval of one quantity.

**summarize(values, key)** over the finite values v_1..v_n (NaN values are dropped and counted in
``n_nan``):

* ``mean``; ``std`` with ddof = 1 (NaN for n < 2);
* ``ci_low``, ``ci_high``: 95 % percentile bootstrap interval of the mean. B = 2000 resamples of n
  values with replacement, drawn from ``np.random.default_rng(keyed_seed("summarize", *key))``
  (never the global RNG; the same key and values give the same interval). The bounds are the
  2.5 % and 97.5 % quantiles of the B resampled means (``np.quantile``, linear interpolation).
* Fewer than ``min_n = 3`` finite values: ``ci_low = ci_high = NaN``, ``ci_valid = False`` and
  ``ci_reason`` says why; no exception.

The ranking of methods is not done here: an interval per method says nothing about a paired
difference, and "rank = 1 + intervals entirely above" rewarded a wide spread. See
:mod:`medstrata.scoring.paired`.

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
from numpy.typing import ArrayLike

from medstrata.hashing import keyed_seed

MIN_N_FOR_CI = 3


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
