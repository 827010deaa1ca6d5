"""JTT's error set: the errors of a briefly trained ERM (the identification model), as slices.

Following Liu et al. (Algorithm 1, step 1): an identification model f_id is trained by ERM for a
few epochs only, and its error set is ``{i : argmax f_id(x_i) != y_i}``. JTT then upweights that set
(step 2, mitigation, not here). In MedStrata the identification model is trained in the model job
(same architecture and data as the reference model, constant learning rate, ``epochs`` = 2,
checkpoint chosen by validation accuracy, i.e. early-stopped on val; see
:mod:`medstrata.models.identification`), and its class probabilities reach the method as
``Problem.id_probs``. The reference model's own errors are the ``error_set_ref`` method.

Column 0 is the indicator of the identification model's errors in the scored split. Columns 1..
split that set by class: the errors of one class each, classes in order of the identification
model's number of errors on the fitting split (descending, ties by class id). Columns beyond 1 + C
are zero. Deterministic, no randomness. A Problem without ``id_probs`` is a clear error.

Citation:
    Liu, Haghgoo, Chen, Raghunathan, Koh, Sagawa, Liang, Finn. "Just Train Twice: Improving Group
    Robustness without Training Group Information." ICML 2021.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from medstrata.methods.base import MethodError, SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("error_set")
class ErrorSetMethod(SliceDiscoveryMethod):
    """All errors of the identification model, then its errors within each class."""

    version = "2"
    citation = CITATION
    needs_identification_model: ClassVar[bool] = True

    def __init__(self, n_slices: int = 5, random_state: int | None = 0) -> None:
        self.n_slices = n_slices
        self.random_state = random_state

    def _fit(self, problem: Problem) -> None:
        wrong = _id_errors(problem)
        classes = np.arange(problem.n_classes)
        counts = np.array([np.sum(wrong & (problem.labels == c)) for c in classes])
        self.classes_ = classes[np.lexsort((classes, -counts))][: max(self.n_slices - 1, 0)]

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, min(n_slices, 1 + C)) 0/1 indicators."""
        wrong = _id_errors(problem).astype(np.float64)
        cols = [wrong] + [wrong * (problem.labels == c) for c in self.classes_]
        return np.stack(cols, axis=1)


def _id_errors(problem: Problem) -> np.ndarray:
    """(n,) bool: the identification model misclassifies the sample."""
    if problem.id_probs is None:
        raise MethodError(
            "error_set (JTT) needs the identification model's outputs (Problem.id_probs); "
            "`medstrata run` trains it when this method is selected. The reference model's own "
            "errors are the error_set_ref method.")
    return problem.id_probs.argmax(axis=1) != problem.labels
