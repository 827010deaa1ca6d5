"""Loss ranking (error auditing): rank the samples of each class by loss, or by 1 - confidence.

Column j belongs to one class: its members get their percentile rank (in (0, 1], ties averaged)
of the loss among the members of that class in the scored split; all other samples get 0. Classes
are given columns in order of their number of errors on the fitting split (descending, ties by
class id); with fewer than C columns only the most erroneous classes are ranked, with more the
extra columns are zero. ``score="confidence"`` ranks by ``1 - max_c p(c)`` instead of the loss.
Deterministic, no randomness.

Citation:
    Oakden-Rayner, Dunnmon, Carneiro, Ré. "Hidden Stratification Causes Clinically Meaningful
    Failures in Machine Learning for Medical Imaging." ACM CHIL 2020 (error auditing).
"""

from __future__ import annotations

import numpy as np

from medstrata.methods._common import error_class_order, within_rank
from medstrata.methods.base import MethodError, SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("loss_rank")
class LossRankMethod(SliceDiscoveryMethod):
    """Per-class percentile rank of the loss (or of 1 - confidence)."""

    version = "1"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0,
                 score: str = "loss") -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.score = score

    def _fit(self, problem: Problem) -> None:
        if self.score not in ("loss", "confidence"):
            raise MethodError(
                f"loss_rank: score must be 'loss' or 'confidence', got {self.score!r}")
        self.classes_ = error_class_order(problem)[: self.n_slices]

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, min(n_slices, C)) within-class percentile ranks."""
        value = problem.losses if self.score == "loss" else 1.0 - problem.probs.max(axis=1)
        out = np.zeros((problem.n, len(self.classes_)))
        for j, c in enumerate(self.classes_):
            member = problem.labels == c
            out[member, j] = within_rank(value[member])
        return out
