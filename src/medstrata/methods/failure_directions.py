"""Failure directions: per class, a linear SVM that predicts correctness from the embedding.

Following Jain et al. and their official code (github.com/MadryLab/failure-directions,
``SVMFitter`` with its defaults ``split_and_search=True, balanced=True, cv=2, do_normalize=True``):
the fitting embeddings are whitened (each dimension minus its mean, divided by its std, statistics
of all fitting samples) and, with ``normalize`` (default), scaled to unit L2 norm. For each class,
a linear-kernel SVM (``sklearn.svm.SVC(kernel="linear")``, ``class_weight="balanced"``) is trained
to separate the class's correct from its misclassified samples; its C is chosen from
``c_grid`` = 1e-6, 1e-5, ..., 1 by ``cv``-fold (2) cross-validated balanced accuracy (first best
wins; rows sorted by sample id, unshuffled folds, as the official ``cross_val_score``). When the
cross-validation cannot run (fewer than ``cv`` samples of either outcome), C = 1, the official
initial value. ``C`` set to a number skips the search. Deviation: the official code whitens with
statistics of the *training* split's latents; methods here see only the fitting (validation) split.

A sample's failure score is ``sigmoid(-decision value)``: the further on the "incorrect" side of
the hyperplane, the closer to 1. Column j belongs to one class (classes in order of their number of
errors on the fitting split, descending, ties by class id): its members get their failure score,
all other samples 0. A class whose fitting samples are all correct or all wrong has no direction;
its members get that class's fitting error rate as a constant score. Classes absent when fitting,
and columns beyond the number of classes, are zero. Deterministic (libsvm's seed is derived from
``random_state``).

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

    version = "2"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0, C: float | None = None,
                 c_grid: tuple = tuple(10.0 ** np.arange(-6, 1)), cv: int = 2,
                 normalize: bool = True) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.C = C
        self.c_grid = c_grid
        self.cv = cv
        self.normalize = normalize

    def _fit(self, problem: Problem) -> None:
        self.classes_ = error_class_order(problem)[: self.n_slices]
        x = problem.embeddings.astype(np.float64)
        self.mean_ = x.mean(axis=0)
        std = (x - self.mean_).std(axis=0, ddof=1) if len(x) > 1 else np.ones(x.shape[1])
        self.std_ = np.where(std > 1e-12, std, 1.0)
        z = self._prepare(x)
        self.models_: dict[int, Any] = {}
        self.chosen_C_: dict[int, float] = {}
        for c in self.classes_.tolist():
            member = problem.labels == c
            if member.any():
                self.models_[c] = self._fit_class(c, z[member], problem.correct[member])

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """(m, d) whitened (and, with ``normalize``, unit-norm) embeddings."""
        z = (x - self.mean_) / self.std_
        if self.normalize:
            z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        return z

    def _fit_class(self, c: int, z: np.ndarray, correct: np.ndarray) -> tuple:
        """(svm or None, constant score) for one class."""
        if correct.all() or not correct.any():
            return None, float(1.0 - correct.mean())
        from sklearn.svm import SVC

        seed = self._seed("svm", c)  # libsvm draws a seed even when unused; never from the global RNG
        C = self._search_C(z, correct, seed) if self.C is None else float(self.C)
        self.chosen_C_[c] = C
        svm = SVC(kernel="linear", C=C, class_weight="balanced", random_state=seed)
        svm.fit(z, correct.astype(np.int64))
        return svm, 0.0

    def _search_C(self, z: np.ndarray, correct: np.ndarray, seed: int) -> float:
        """The official grid search: best mean ``cv``-fold balanced accuracy (first best wins)."""
        import warnings

        from sklearn.metrics import balanced_accuracy_score, make_scorer
        from sklearn.model_selection import cross_val_score
        from sklearn.svm import SVC

        if min(correct.sum(), (~correct).sum()) < self.cv:
            return 1.0
        best, best_score = 1.0, -np.inf
        scorer = make_scorer(balanced_accuracy_score)
        for C in self.c_grid:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                svc = SVC(kernel="linear", C=float(C), class_weight="balanced", random_state=seed)
                scores = cross_val_score(svc, z, correct.astype(np.int64), cv=self.cv, scoring=scorer,
                                         error_score=np.nan)
            score = float(np.mean(scores))
            if np.isfinite(score) and score > best_score:
                best, best_score = float(C), score
        return best

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, min(n_slices, C)) failure scores in (0, 1)."""
        z = self._prepare(problem.embeddings.astype(np.float64))
        out = np.zeros((problem.n, len(self.classes_)))
        for j, c in enumerate(self.classes_.tolist()):
            member = problem.labels == c
            if c not in self.models_ or not member.any():
                continue
            svm, const = self.models_[c]
            if svm is None:
                out[member, j] = const
            else:
                out[member, j] = _sigmoid(-svm.decision_function(z[member]))
        return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
