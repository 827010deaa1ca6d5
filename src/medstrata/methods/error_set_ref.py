"""The reference model's error set: the misclassified samples as a slice (a JTT-like shortcut).

Column 0 is the indicator of all errors (``argmax p != y``) of the *reference model* in the scored
split. Columns 1.. split that set by class: the errors of one class each, classes in order of their
number of errors on the fitting split (descending, ties by class id). Columns beyond 1 + C are zero.
Deterministic, no randomness.

This is not JTT's error set: JTT takes the errors of a separately, briefly trained ERM (see the
``error_set`` method, :mod:`medstrata.methods.error_set`). It was called ``error_set`` until
MedStrata 0.x and keeps its outputs under the honest name ``error_set_ref``.

Citation:
    Liu, Haghgoo, Chen, Raghunathan, Koh, Sagawa, Liang, Finn. "Just Train Twice: Improving Group
    Robustness without Training Group Information." ICML 2021.
"""

from __future__ import annotations

import numpy as np

from medstrata.methods._common import error_class_order
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("error_set_ref")
class ReferenceErrorSetMethod(SliceDiscoveryMethod):
    """All errors of the reference model, then the errors of each class."""

    version = "1"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0) -> None:
        self.n_slices = n_slices
        self.random_state = random_state

    def _fit(self, problem: Problem) -> None:
        self.classes_ = error_class_order(problem)[: max(self.n_slices - 1, 0)]

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, min(n_slices, 1 + C)) 0/1 indicators."""
        wrong = (~problem.correct).astype(np.float64)
        cols = [wrong] + [wrong * (problem.labels == c) for c in self.classes_]
        return np.stack(cols, axis=1)
