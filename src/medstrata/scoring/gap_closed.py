"""Gap closed by mitigation with discovered groups (GEORGE's framing).

Inputs are test worst-group accuracies ``acc_wg`` (true class x stratum groups, the definition of
:mod:`medstrata.scoring.worst_group`) of three heads retrained on the same frozen features of the
same (task, seed): ``m`` with the method's groups, ``e`` plain ERM (no groups) and ``o`` the same
strategy with the oracle's groups (the true strata).

* **One cell:** ``gap_closed = (m - e) / (o - e)``. 0 = no better than ERM, 1 = as good as the
  oracle groups; it can be negative or above 1.
* **Undefined:** when ``o - e < MIN_GAP`` (2 accuracy points) the oracle groups do not beat ERM by
  enough to divide by; the value is NaN and ``gap_closed_defined = False`` ("undefined (oracle ≈
  ERM)" in tables). A negative ``o - e`` (oracle worse than ERM) is undefined too.
* **Over seeds** (:func:`gap_closed_over_seeds`, n seeds of one task): the ratio of the means,
  ``(mean m - mean e) / (mean o - mean e)``, undefined when ``mean o - mean e < MIN_GAP``. Its 95 %
  interval is a percentile bootstrap over seeds (B = 2000; the same resampled seeds for m, e and o,
  so the three stay paired; generator keyed by ``key``); replicates whose denominator is below
  ``MIN_GAP`` are dropped and counted in ``n_boot_undefined``. With fewer than 3 seeds there is no
  interval. With 3 seeds a percentile bootstrap covers about 75 %, not 95 %: say so when quoting it.

Worked example: m = 0.70, e = 0.60, o = 0.80 gives (0.70 - 0.60) / (0.80 - 0.60) = 0.5; with
o = 0.61 the gap is 0.01 < 0.02, so the value is NaN (undefined).

Citation::

    Sohoni, Dunnmon, Angus, Gu, Ré, "No Subclass Left Behind: Fine-Grained Robustness in
    Coarse-Grained Classification Problems", NeurIPS 2020 (ERM vs GEORGE vs oracle subclass GDRO).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from medstrata.hashing import keyed_seed

#: Smallest oracle - ERM difference in worst-group accuracy (2 points) for which the gap is defined.
MIN_GAP = 0.02


def gap_closed(method: float, erm: float, oracle: float, min_gap: float = MIN_GAP) -> tuple[float, bool]:
    """``((method - erm) / (oracle - erm), True)``, or ``(nan, False)`` when ``oracle - erm < min_gap``
    or any input is NaN."""
    values = (float(method), float(erm), float(oracle))
    if any(math.isnan(v) for v in values) or values[2] - values[1] < min_gap:
        return math.nan, False
    return (values[0] - values[1]) / (values[2] - values[1]), True


def _ratio(m: np.ndarray, e: np.ndarray, o: np.ndarray, min_gap: float) -> np.ndarray:
    """Ratio of means along the last axis; NaN where the mean gap is below ``min_gap``."""
    gap = o.mean(axis=-1) - e.mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gap >= min_gap, (m.mean(axis=-1) - e.mean(axis=-1)) / gap, np.nan)


def gap_closed_over_seeds(method: ArrayLike, erm: ArrayLike, oracle: ArrayLike, key: str | Sequence[Any],
                          n_boot: int = 2000, level: float = 0.95, min_gap: float = MIN_GAP) -> dict[str, Any]:
    """Gap closed over n seeds of one task (module docstring).

    Args:
        method, erm, oracle: (n,) test acc_wg per seed, paired by position (the same seeds).
        key: stable key of the quantity; seeds the bootstrap.

    Returns:
        ``{gap_closed, ci_low, ci_high, defined, ci_valid, n, n_boot_undefined, erm, oracle, method}``
        (the last three: means over seeds).
    """
    m, e, o = (np.asarray(v, dtype=np.float64).ravel() for v in (method, erm, oracle))
    keep = np.isfinite(m) & np.isfinite(e) & np.isfinite(o)
    m, e, o = m[keep], e[keep], o[keep]
    n = len(m)
    point = float(_ratio(m, e, o, min_gap)) if n else math.nan
    out = {"gap_closed": point, "ci_low": math.nan, "ci_high": math.nan, "defined": bool(np.isfinite(point)),
           "ci_valid": False, "n": n, "n_boot_undefined": 0,
           **{k: float(v.mean()) if n else math.nan for k, v in (("method", m), ("erm", e), ("oracle", o))}}
    if n >= 3 and out["defined"]:
        rng = np.random.default_rng(keyed_seed("gap_closed", *((key,) if isinstance(key, str) else key)))
        idx = rng.integers(0, n, size=(n_boot, n))
        reps = _ratio(m[idx], e[idx], o[idx], min_gap)
        finite = reps[np.isfinite(reps)]
        out["n_boot_undefined"] = int(n_boot - len(finite))
        if len(finite):
            out["ci_low"], out["ci_high"] = (float(x) for x in np.quantile(finite, [(1 - level) / 2, (1 + level) / 2]))
            out["ci_valid"] = True
    return out
