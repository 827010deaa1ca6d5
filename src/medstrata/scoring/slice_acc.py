"""Worst-slice accuracy: how badly the reference model does on the worst group a method surfaces.

For each of a method's ``k`` slices, take the ``m = max(min_size, ceil(frac * n))`` test samples
with the highest slice score and measure the reference model's accuracy on them; report the
minimum over slices. Ties at the cut-off are averaged over their orders (the *expected* accuracy
when the tied samples are taken in a uniformly random order), so the value does not depend on row
order. Lower is a worse group found. The oracle's value is the accuracy on (the top of) the true
stratum; ``random`` gives about the overall accuracy.

This is the auditor's question "how bad is the slice you found", as in Domino's slice-level
accuracy reports (Eyuboglu et al., ICLR 2022, sec. 5) and Spotlight's "top-k loss" of a found
region (d'Eon et al., FAccT 2022). It does not read the true strata.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

#: Share of test samples in the top of a slice (and the smallest top size).
TOP_FRAC, TOP_MIN = 0.05, 10


def expected_top_mean(score: np.ndarray, value: np.ndarray, m: int) -> float:
    """Expected mean of ``value`` over the ``m`` highest ``score`` (ties in random order).

    Args:
        score: (n,) float.
        value: (n,) float (e.g. 1.0 for a correct prediction).
        m: top size, 1 <= m <= n.
    """
    order = np.sort(score)[::-1]
    cut = order[m - 1]
    above, tied = score > cut, score == cut
    need = m - int(above.sum())
    total = float(value[above].sum()) + need * float(value[tied].mean())
    return total / m


def worst_slice_accuracy(slice_scores: ArrayLike, correct: ArrayLike, frac: float = TOP_FRAC,
                         min_size: int = TOP_MIN) -> float:
    """Minimum over slices of the reference model's expected accuracy on the slice's top samples.

    Args:
        slice_scores: (n, k) float, a method's ``predict_proba`` on test.
        correct: (n,) bool, the reference model's prediction equals the clean label.
    """
    s = np.asarray(slice_scores, dtype=float)
    c = np.asarray(correct, dtype=float)
    if s.ndim != 2 or len(s) != len(c) or len(c) == 0:
        raise ValueError(f"slice_scores must be (n, k) and correct (n,), got {s.shape} and {c.shape}")
    m = min(len(c), max(int(min_size), math.ceil(frac * len(c))))
    return min(expected_top_mean(s[:, j], c, m) for j in range(s.shape[1]))
