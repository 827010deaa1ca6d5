"""The input a discovery method sees: model outputs keyed by sample id, and **no strata**.

This type is the leakage firewall of the data flow (see STYLE.md): it has no field that could carry
ground-truth strata. Only the scorer and the oracle control read the task manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np


@dataclass(frozen=True, eq=False)
class Problem:
    """Reference-model outputs for one split of one task.

    Attributes:
        sample_ids: (n,) str, unique; every join goes through these, never by position.
        labels: (n,) int64 observed task labels (possibly noisy in val, clean in test).
        probs: (n, C) float64 predicted class probabilities, rows sum to 1.
        losses: (n,) float64 per-sample cross-entropy of the reference model.
        embeddings: (n, d) float32 features from the encoder named ``embedding_name``.
        embedding_name: registry name of the encoder (``"penultimate"``, ``"pixel_pca"``, ...).
        id_probs: optional (n, C) float64 class probabilities of an *identification model*, a
            second, briefly trained ERM of the same task (JTT's; see
            :mod:`medstrata.models.identification`); None when the run did not train one.
    """

    sample_ids: np.ndarray
    labels: np.ndarray
    probs: np.ndarray
    losses: np.ndarray
    embeddings: np.ndarray
    embedding_name: str = "penultimate"
    id_probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.sample_ids)
        for name in ("labels", "probs", "losses", "embeddings"):
            arr = getattr(self, name)
            if len(arr) != n:
                raise ValueError(f"Problem.{name} has {len(arr)} rows, sample_ids has {n}")
        if self.probs.ndim != 2 or self.embeddings.ndim != 2:
            raise ValueError("Problem.probs and Problem.embeddings must be 2-D")
        if self.id_probs is not None and self.id_probs.shape != self.probs.shape:
            raise ValueError(f"Problem.id_probs has shape {self.id_probs.shape}, probs has "
                             f"{self.probs.shape}")
        if len(set(self.sample_ids.tolist())) != n:
            raise ValueError("Problem.sample_ids must be unique")

    @property
    def n(self) -> int:
        return len(self.sample_ids)

    @property
    def n_classes(self) -> int:
        return self.probs.shape[1]

    @property
    def preds(self) -> np.ndarray:
        """(n,) int64 argmax predictions."""
        return self.probs.argmax(axis=1).astype(np.int64)

    @property
    def correct(self) -> np.ndarray:
        """(n,) bool, prediction equals observed label."""
        return self.preds == self.labels

    def take(self, index: np.ndarray) -> "Problem":
        """Rows ``index`` (positions or a boolean mask), as a new Problem."""
        return Problem(
            self.sample_ids[index], self.labels[index], self.probs[index], self.losses[index],
            self.embeddings[index], self.embedding_name,
            None if self.id_probs is None else self.id_probs[index],
        )


@dataclass(frozen=True)
class Renaming:
    """A one-to-one renaming of sample ids, for a method that must not see the real ids.

    A method gets :meth:`problem` (ids renamed, rows in the order of the new ids, so neither an id
    nor a row position carries the original id); its scores are put back in the original row order
    with :meth:`restore`. The scorer keeps joining by the real ids.

    Attributes:
        key: identity of the renaming (part of the cache key of a result computed through it); it
            must not carry the renaming's key material.
        rename: real sample id -> new sample id (str -> str, one-to-one). Kept out of ``repr``: it
            may close over a secret.
    """

    key: str
    rename: Callable[[str], str] = field(repr=False)

    def ids(self, sample_ids: np.ndarray) -> np.ndarray:
        """(n,) object array of the new ids of ``sample_ids``, same order."""
        return np.asarray([self.rename(str(s)) for s in sample_ids.tolist()], dtype=object)

    def _sorted(self, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
        """(new ids in ``problem``'s row order, positions that sort them)."""
        new = self.ids(problem.sample_ids)
        return new, np.argsort(new.astype(str), kind="stable")

    def problem(self, problem: Problem) -> Problem:
        """``problem`` with renamed ids, its rows sorted by new id."""
        new, order = self._sorted(problem)
        return replace(problem.take(order), sample_ids=new[order])

    def truth(self, truth: dict) -> dict:
        """{real id: value} -> {new id: value}."""
        return {self.rename(str(k)): v for k, v in truth.items()}

    def restore(self, scores: np.ndarray, problem: Problem) -> np.ndarray:
        """Rows of ``scores``, computed on ``self.problem(problem)``, back in ``problem``'s row order."""
        order = self._sorted(problem)[1]
        out = np.empty_like(scores)
        out[order] = scores
        return out
