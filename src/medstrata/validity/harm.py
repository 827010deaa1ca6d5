"""Harm of a stratum: how much worse the reference model does on its members than on the rest of
their class, and how much of the model's error the stratum holds.

Definitions (one each; the validity card and its gates use exactly these):

* **Stratum gap** of stratum ``k`` (one stratum column, ids ``0`` = not a member, ``k >= 1``)::

      gap_k = sum_c  w_ck * (acc(c, s=0) - acc(c, s=k)),   w_ck = n(c, s=k) / n(s=k)

  over the classes ``c`` (clean labels) that hold members of ``k`` *and* non-members of the column.
  It compares members with non-members **of their own class**, never with "the worst group of any
  kind": a stratum that is easier than the rest of its class has a negative gap. Accuracy is
  measured against the *clean* label (on val, label-noise members carry flipped observed labels).
* **Interval over seeds**: each seed builds its own task and trains its own model, so its gap is one
  draw; the card reports the mean and a two-sided Student-t interval, mean ± t_{n-1} * sd / sqrt(n)
  (sd with ddof=1). With 3 seeds a percentile bootstrap over seeds is just [min, max] (about 75 %
  coverage), which is why the t-interval is used.
* **Error share** of stratum ``k``: the fraction of all the model's errors (clean label) that fall on
  members of ``k``. A stratum that holds nearly all errors is found by any error ranking.

Worked example: class 0 has 8 non-members (6 right, acc 0.75) and 2 members (0 right), class 1 has
10 non-members (all right) and no member: gap = 1.0 * (0.75 - 0.0) = 0.75; the model makes 4
errors, 2 of them on members: error share 0.5.

Citation:
    Oakden-Rayner, Dunnmon, Carneiro, Re. Hidden stratification causes clinically meaningful failures
    in machine learning for medical imaging. CHIL 2020 (performance on a stratum vs its class).
    Student (Gosset). The probable error of a mean. Biometrika 1908.
"""

from __future__ import annotations

import math

import numpy as np


def stratum_gaps(labels: np.ndarray, preds: np.ndarray, strata: np.ndarray) -> dict[int, dict]:
    """Within-class gap of every stratum id of one column.

    Args:
        labels: (n,) int clean class labels.
        preds: (n,) int predicted classes.
        strata: (n,) int stratum ids of one column (0 = not a member).

    Returns:
        {k: {"gap", "acc_member", "acc_rest", "n_member", "n_rest", "classes"}} for every id k >= 1
        present; ``gap`` is NaN when no class holds both members and non-members.
    """
    labels, preds, strata = (np.asarray(a) for a in (labels, preds, strata))
    if not len(labels) == len(preds) == len(strata):
        raise ValueError(f"labels ({len(labels)}), preds ({len(preds)}) and strata ({len(strata)}) differ in length")
    right = labels == preds
    out = {}
    for k in sorted(int(v) for v in np.unique(strata) if v != 0):
        out[k] = _one_gap(labels, right, strata, k)
    return out


def _one_gap(labels: np.ndarray, right: np.ndarray, strata: np.ndarray, k: int) -> dict:
    gaps, weights, acc_m, acc_r, n_rest, classes = [], [], [], [], 0, []
    for c in np.unique(labels[strata == k]).tolist():
        member, rest = (labels == c) & (strata == k), (labels == c) & (strata == 0)
        if not rest.any():
            continue
        a_m, a_r = float(right[member].mean()), float(right[rest].mean())
        gaps.append(a_r - a_m)
        weights.append(int(member.sum()))
        acc_m.append(a_m)
        acc_r.append(a_r)
        n_rest += int(rest.sum())
        classes.append(int(c))
    if not weights:
        nan = float("nan")
        return {"gap": nan, "acc_member": nan, "acc_rest": nan, "n_member": int((strata == k).sum()),
                "n_rest": 0, "classes": []}
    w = np.asarray(weights, dtype=np.float64) / sum(weights)
    return {"gap": float(w @ gaps), "acc_member": float(w @ acc_m), "acc_rest": float(w @ acc_r),
            "n_member": int(sum(weights)), "n_rest": n_rest, "classes": classes}


def error_share(labels: np.ndarray, preds: np.ndarray, strata: np.ndarray) -> dict[int, float]:
    """{k: share of all errors that fall on members of stratum k}; NaN when the model makes no error.

    Args:
        labels, preds, strata: (n,) int, as in :func:`stratum_gaps`.
    """
    wrong = np.asarray(labels) != np.asarray(preds)
    strata = np.asarray(strata)
    total = int(wrong.sum())
    return {int(k): (float((wrong & (strata == k)).sum() / total) if total else float("nan"))
            for k in np.unique(strata) if k != 0}


def t_interval(values: list[float] | np.ndarray, level: float = 0.95) -> dict:
    """Mean and two-sided Student-t interval of per-seed values.

    Args:
        values: (n_seeds,) floats; NaNs are dropped.
        level: coverage of the interval.

    Returns:
        {"mean", "sd", "low", "high", "n"}; low/high are NaN with fewer than 2 finite values.
    """
    from scipy.stats import t as student_t

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    n = len(v)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "sd": nan, "low": nan, "high": nan, "n": 0}
    mean = float(v.mean())
    if n < 2:
        return {"mean": mean, "sd": float("nan"), "low": float("nan"), "high": float("nan"), "n": 1}
    sd = float(v.std(ddof=1))
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "n": n}
