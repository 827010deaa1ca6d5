"""What a mitigation strategy sees: frozen features, labels and (discovered) groups of train and val.

:class:`Split` is built from a :class:`~medstrata.problem.Problem` (the reference model's outputs of
one split) plus, optionally, the slice scores a discovery method gave that split. Like a Problem it
has **no field for ground-truth strata**: the only groups it carries are the ones a method produced
(the oracle control's are the true strata by construction, and it is flagged as an oracle).

**Group rule.** Over the method's ``(n, k)`` slice scores, a slice *claims* sample i when its score
is at least ``CLAIM = 0.5``; the sample's slice is the claiming column with the highest score (ties:
the lowest column), and ``k`` (the *rest*) when no column claims it. The group of sample i is
``(labels[i], slice[i])``, encoded as one int ``labels[i] * (k + 1) + slice[i]``. Observed labels are
used (the clean ones are hidden from every method). Why not the plain argmax: most baselines score
one ranking per class (loss rank, failure directions, ConfusionSDM) and are zero outside that class,
so the argmax of every sample is its own class's column and the groups would be the classes; the
0.5 claim splits each such column into its high-scoring members and the rest (the error set's 0/1
indicator, the SVM's "predicted failure" side, the confusion cell of the prediction, the oracle's
one-hot strata, a soft clustering's confident members).

**Flagged samples** (``jtt_upweight``): with groups, a sample is flagged when its group is not the
largest group of its class in that split (ties: the lower group id counts as the largest); without
groups, when the reference model misclassifies it (JTT's error set).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medstrata.errors import MedStrataError
from medstrata.problem import Problem


class MitigationError(MedStrataError):
    """A mitigation strategy was given parameters or inputs it cannot work with."""


@dataclass(frozen=True, eq=False)
class Split:
    """One split for last-layer retraining.

    Attributes:
        sample_ids: (n,) str, unique; every join goes by these.
        features: (n, d) float64 frozen reference-model features (penultimate layer).
        labels: (n,) int64 observed labels in [0, n_classes).
        n_classes: number of classes C.
        groups: (n,) int64 discovered group ids ``label * (k + 1) + slice``, or None (no groups).
        errors: (n,) bool, the reference model misclassifies the sample (observed label).
    """

    sample_ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    n_classes: int
    groups: np.ndarray | None
    errors: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.sample_ids)
        if self.features.ndim != 2 or len(self.features) != n:
            raise MitigationError(f"features must have shape (n={n}, d), got {self.features.shape}")
        for name in ("labels", "errors") + (("groups",) if self.groups is not None else ()):
            if np.shape(getattr(self, name)) != (n,):
                raise MitigationError(f"{name} must have shape ({n},), got {np.shape(getattr(self, name))}")
        if n and (self.labels.min() < 0 or self.labels.max() >= self.n_classes):
            raise MitigationError(f"labels must lie in [0, {self.n_classes})")
        if not np.all(np.isfinite(self.features)):
            raise MitigationError("features must be finite")
        if len(set(self.sample_ids.tolist())) != n:
            raise MitigationError("sample_ids must be unique")

    @property
    def n(self) -> int:
        return len(self.sample_ids)

    def take(self, index: np.ndarray) -> "Split":
        """Rows ``index`` (positions or a boolean mask) as a new Split."""
        return Split(self.sample_ids[index], self.features[index], self.labels[index], self.n_classes,
                     None if self.groups is None else self.groups[index], self.errors[index])

    def sorted(self) -> "Split":
        """The rows sorted by sample id (so nothing can depend on the caller's row order)."""
        return self.take(np.argsort(self.sample_ids.astype(str), kind="stable"))

    def eval_groups(self) -> np.ndarray:
        """(n,) the groups for model selection: the discovered groups, or the classes when None."""
        return self.labels if self.groups is None else self.groups

    def flagged(self) -> np.ndarray:
        """(n,) bool: samples outside the largest group of their class, or the errors (no groups)."""
        if self.groups is None:
            return self.errors.copy()
        out = np.zeros(self.n, dtype=bool)
        for c in np.unique(self.labels):
            in_c = self.labels == c
            ids, counts = np.unique(self.groups[in_c], return_counts=True)
            out[in_c] = self.groups[in_c] != ids[np.argmax(counts)]
        return out


#: A slice claims a sample whose score in it is at least this (module docstring).
CLAIM = 0.5


def slices_of(scores: np.ndarray) -> np.ndarray:
    """(n,) int64 slice of each row of (n, k) slice scores: the highest claiming column, ``k`` when
    no score reaches :data:`CLAIM` (module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 1 or not np.all(np.isfinite(scores)):
        raise MitigationError(f"slice scores must be finite with shape (n, k >= 1), got {scores.shape}")
    best = scores.argmax(axis=1).astype(np.int64)
    best[scores.max(axis=1) < CLAIM] = scores.shape[1]
    return best


def make_split(problem: Problem, scores: np.ndarray | None = None) -> Split:
    """A :class:`Split` from a Problem (features = its embeddings) and optional (n, k) slice scores
    in the Problem's row order; groups = ``label * (k + 1) + slice`` (module docstring)."""
    groups = None
    if scores is not None:
        if len(scores) != problem.n:
            raise MitigationError(f"slice scores have {len(scores)} rows, the Problem has {problem.n}")
        groups = problem.labels.astype(np.int64) * (int(np.shape(scores)[1]) + 1) + slices_of(scores)
    return Split(np.asarray(problem.sample_ids), np.asarray(problem.embeddings, dtype=np.float64),
                 problem.labels.astype(np.int64), problem.n_classes, groups, ~problem.correct)
