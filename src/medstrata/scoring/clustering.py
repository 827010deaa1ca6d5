"""Agreement between two partitions of the same n samples: ARI and AMI.

Both take two label vectors ``a (n,)`` and ``b (n,)`` of any hashable-sortable labels (ints in
MedStrata: hard slice assignments and true stratum ids) and return a float. Both are symmetric.

* **ARI** (Hubert and Arabie): with ``n_ij`` the contingency counts, ``a_i``/``b_j`` its row/column
  sums and ``C(x) = x(x-1)/2``::

      index = sum_ij C(n_ij);  expected = sum_i C(a_i) * sum_j C(b_j) / C(n)
      ARI = (index - expected) / ((sum_i C(a_i) + sum_j C(b_j)) / 2 - expected)

  computed in exact integer arithmetic with one final division. When the denominator is 0 (both
  partitions are a single cluster, or both are all singletons, or n < 2) ARI = 1.
* **AMI** (Vinh, Epps, Bailey), arithmetic-mean normalisation::

      AMI = (MI - E[MI]) / ((H(a) + H(b)) / 2 - E[MI])

  with natural logarithms and E[MI] the expectation under the hypergeometric (permutation) model.
  Limit cases: both partitions a single cluster, or both all singletons (then MI is the same for
  every permutation, so E[MI] equals the normaliser) -> 1; exactly one a single cluster -> 0.

Citation::

    Hubert and Arabie, "Comparing partitions", Journal of Classification 2, 1985.
    Vinh, Epps, Bailey, "Information theoretic measures for clusterings comparison", JMLR 11, 2010.
    Sohoni et al., "No Subclass Left Behind" (GEORGE), NeurIPS 2020 (cluster recovery of
    subclasses).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln


def contingency(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """(R, C) int64 counts of samples with the r-th distinct value of ``a`` and c-th of ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"label vectors must be 1-D and of equal length, got {a.shape}, {b.shape}")
    if a.size == 0:
        raise ValueError("label vectors are empty")
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai.ravel(), bi.ravel()), 1)
    return table


def _pairs(counts: np.ndarray) -> int:
    """Exact ``sum C(x, 2)`` over the counts, as a Python int."""
    return sum(int(x) * (int(x) - 1) // 2 for x in counts.ravel())


def adjusted_rand_index(a: ArrayLike, b: ArrayLike) -> float:
    """ARI of two (n,) label vectors (see module docstring)."""
    table = contingency(a, b)
    n = int(table.sum())
    index = _pairs(table)
    sa, sb = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    total = n * (n - 1) // 2
    # Multiply numerator and denominator by 2 * total to stay in integers.
    num = 2 * (index * total - sa * sb)
    den = (sa + sb) * total - 2 * sa * sb
    if den == 0:
        return 1.0
    return num / den


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(table: np.ndarray) -> float:
    """MI (nats) of a contingency table: ``sum_ij (n_ij/n) log(n n_ij / (a_i b_j))``."""
    n = table.sum()
    rows, cols = np.nonzero(table)
    nij = table[rows, cols].astype(np.float64)
    ai = table.sum(axis=1)[rows].astype(np.float64)
    bj = table.sum(axis=0)[cols].astype(np.float64)
    return float(max(0.0, (nij / n * np.log(n * nij / (ai * bj))).sum()))


def expected_mutual_information(row_sums: np.ndarray, col_sums: np.ndarray) -> float:
    """E[MI] of two partitions with the given cluster sizes under random permutation.

    Sums over every cell (i, j) and every feasible count ``nij`` the term
    ``nij/n * log(n nij / (a_i b_j))`` times its hypergeometric probability. Cost O(R * C * n).
    """
    n = int(row_sums.sum())
    lg = gammaln(np.arange(n + 2, dtype=np.float64))  # lg[x] = log((x - 1)!); log(x!) = lg[x + 1]
    total = 0.0
    for a in (int(x) for x in row_sums):
        for b in (int(x) for x in col_sums):
            nij = np.arange(max(1, a + b - n), min(a, b) + 1)
            if nij.size == 0:
                continue
            log_prob = (lg[a + 1] + lg[b + 1] + lg[n - a + 1] + lg[n - b + 1] - lg[n + 1]
                        - lg[nij + 1] - lg[a - nij + 1] - lg[b - nij + 1] - lg[n - a - b + nij + 1])
            total += float((nij / n * np.log(n * nij / (a * b)) * np.exp(log_prob)).sum())
    return total


def adjusted_mutual_info(a: ArrayLike, b: ArrayLike) -> float:
    """AMI (arithmetic normalisation) of two (n,) label vectors (see module docstring)."""
    table = contingency(a, b)
    r, c = table.shape
    if (r == 1 and c == 1) or r == c == table.sum():
        return 1.0
    if r == 1 or c == 1:
        return 0.0
    row_sums, col_sums = table.sum(axis=1), table.sum(axis=0)
    emi = expected_mutual_information(row_sums, col_sums)
    mi = mutual_information(table)
    normaliser = (_entropy(row_sums) + _entropy(col_sums)) / 2.0
    return float((mi - emi) / (normaliser - emi))
