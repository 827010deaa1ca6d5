"""Oracle control: one-hot of the true strata, looked up by sample id (an upper bound).

**This method reads ground truth and is flagged ``is_oracle = True``; its results must be marked as
an oracle wherever they appear.** It is the only method that takes the hidden strata, through its
``truth`` parameter: a ``dict`` or ``pandas.Series`` mapping sample id -> stratum id. Column ``j``
is the indicator of the ``j``-th stratum id in sorted order (numbers before strings) among all ids
in ``truth``; with more strata than ``n_slices`` only the first ``n_slices`` are returned, with
fewer the remaining columns are zero. A sample id missing from ``truth`` is an error.

Citation:
    Sohoni, Dunnmon, Angus, Gu, Ré. "No Subclass Left Behind: Fine-Grained Robustness in
    Coarse-Grained Classification Problems." NeurIPS 2020 (oracle true-subclass control).
"""

from __future__ import annotations

import numbers
from typing import Any, Mapping

import numpy as np

from medstrata.methods.base import MethodError, SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem


CITATION = citation_block(__doc__)


def _sort_key(value: Any) -> tuple:
    if isinstance(value, numbers.Real):
        return (0, float(value), "")
    return (1, 0.0, str(value))


@register_method("oracle")
class OracleMethod(SliceDiscoveryMethod):
    """One-hot true strata (control; reads ground truth)."""

    version = "1"
    is_oracle = True
    is_control = True
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0,
                 truth: Mapping[Any, Any] | None = None) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.truth = truth

    def _fit(self, problem: Problem) -> None:
        if self.truth is None:
            raise MethodError("the oracle needs truth= (a mapping sample_id -> stratum id)")
        self.truth_ = {str(k): v for k, v in dict(self.truth).items()}
        self.strata_ = sorted(set(self.truth_.values()), key=_sort_key)[: self.n_slices]
        self._lookup(problem)

    def _lookup(self, problem: Problem) -> list:
        missing = [s for s in problem.sample_ids.tolist() if str(s) not in self.truth_]
        if missing:
            raise MethodError(f"oracle truth has no stratum for {len(missing)} sample ids, "
                              f"e.g. {missing[:3]}")
        return [self.truth_[str(s)] for s in problem.sample_ids.tolist()]

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, len(strata_)) one-hot."""
        values = self._lookup(problem)
        index = {v: j for j, v in enumerate(self.strata_)}
        out = np.zeros((problem.n, len(self.strata_)))
        for i, v in enumerate(values):
            if v in index:
                out[i, index[v]] = 1.0
        return out
