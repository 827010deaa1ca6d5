"""Failure directions: per class, a linear SVM that predicts correctness from the embedding.

Following Jain et al.: for each class, the fitting samples of that class are standardised (per
dimension, statistics of that class) and a linear SVM (``sklearn.svm.LinearSVC``,
``class_weight="balanced"``, ``C``) is trained to separate correct from misclassified samples. A
sample's failure score is ``sigmoid(-decision value)``: the further on the "incorrect" side of the
hyperplane, the closer to 1. Column j belongs to one class (classes in order of their number of
errors on the fitting split, descending, ties by class id): its members get their failure score,
all other samples 0. A class whose fitting samples are all correct or all wrong has no direction;
its members get that class's fitting error rate as a constant score. Classes absent when fitting,
and columns beyond the number of classes, are zero. LinearSVC is seeded from ``random_state``.

Citation:
    Jain, Lawrence, Moitra, Madry. "Distilling Model Failures as Directions in Latent Space."
    ICLR 2023.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medstrata.methods._common import error_class_order
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("failure_directions")
class FailureDirectionsMethod(SliceDiscoveryMethod):
    """Per-class linear SVM on correctness; scores along the failure direction."""

    version = "1"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0, C: float = 0.1,
                 max_iter: int = 5000) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.C = C
        self.max_iter = max_iter

    def _fit(self, problem: Problem) -> None:
        self.classes_ = error_class_order(problem)[: self.n_slices]
        x = problem.embeddings.astype(np.float64)
        self.models_: dict[int, Any] = {}
        for c in self.classes_.tolist():
            member = problem.labels == c
            if member.any():
                self.models_[c] = self._fit_class(c, x[member], problem.correct[member])

    def _fit_class(self, c: int, x: np.ndarray, correct: np.ndarray) -> tuple:
        """(mean, std, svm or None, constant score) for one class."""
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        if correct.all() or not correct.any():
            return mean, std, None, float(1.0 - correct.mean())
        from sklearn.svm import LinearSVC

        svm = LinearSVC(C=self.C, class_weight="balanced", max_iter=self.max_iter,
                        random_state=self._seed("svm", c))
        svm.fit((x - mean) / std, correct.astype(np.int64))
        return mean, std, svm, 0.0

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, min(n_slices, C)) failure scores in (0, 1)."""
        x = problem.embeddings.astype(np.float64)
        out = np.zeros((problem.n, len(self.classes_)))
        for j, c in enumerate(self.classes_.tolist()):
            member = problem.labels == c
            if c not in self.models_ or not member.any():
                continue
            mean, std, svm, const = self.models_[c]
            if svm is None:
                out[member, j] = const
            else:
                out[member, j] = _sigmoid(-svm.decision_function((x[member] - mean) / std))
        return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
