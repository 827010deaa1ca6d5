"""The mitigation-strategy protocol: fit a linear head on frozen train/val features, never on test.

A strategy is fitted with :meth:`MitigationStrategy.fit` ``(train, val)`` (two
:class:`~medstrata.mitigation.data.Split`; there is no argument through which a test split could
enter) and then scores any features with :meth:`MitigationStrategy.predict_proba`. The public
methods wrap two hooks so that every strategy, built-in or plug-in,

* sees its rows **sorted by sample id** (a fitted head cannot depend on the caller's row order);
* runs every point of its hyperparameter ``grid`` (:meth:`MitigationStrategy._fit_one` returns a
  head, its chosen step and its val selection score, see :mod:`medstrata.mitigation.head`) and
  keeps the best by val score (ties: the first grid point);
* draws randomness only from :meth:`MitigationStrategy._rng`, keyed by (strategy name, ``key``,
  purpose, sample id) through :mod:`medstrata.hashing`, never from the global RNG.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from medstrata.hashing import keyed_uniform
from medstrata.mitigation.data import MitigationError, Split
from medstrata.mitigation.head import LinearHead


class MitigationStrategy:
    """Base class of every mitigation strategy.

    Class attributes: ``version`` (bump when outputs change), ``citation`` (required),
    ``uses_groups`` (False only for ``erm``), ``grid`` (list of hyperparameter dicts, the model
    selection grid), ``strategy_name`` (set by the registry).

    Fitted attributes: ``head_`` (:class:`LinearHead`), ``params_`` (the chosen grid point plus
    ``step``), ``val_score_`` (its val selection score), ``n_features_``, ``n_classes_``.
    """

    version: ClassVar[str] = "1"
    citation: ClassVar[str] = ""
    uses_groups: ClassVar[bool] = True
    grid: ClassVar[list[dict[str, Any]]] = [{}]
    strategy_name: ClassVar[str] = ""

    def __init__(self, key: str = "medstrata") -> None:
        self.key = key

    def fit(self, train: Split, val: Split) -> "MitigationStrategy":
        """Fit on ``train`` with model selection on ``val``; returns ``self``."""
        _check(train, "train")
        _check(val, "val")
        if train.features.shape[1] != val.features.shape[1] or train.n_classes != val.n_classes:
            raise MitigationError(f"train has {train.features.shape[1]} features and {train.n_classes} classes, "
                                  f"val {val.features.shape[1]} and {val.n_classes}")
        train, val = train.sorted(), val.sorted()
        best = None
        for params in self.grid:
            head, step, score = self._fit_one(train, val, dict(params))
            if best is None or score > best[2]:
                best = (head, {**params, "step": int(step)}, float(score))
        self.head_, self.params_, self.val_score_ = best
        self.head_ = self._final(train, val, self.params_, self.head_)
        self.n_features_, self.n_classes_ = train.features.shape[1], train.n_classes
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(n, C) class probabilities of (n, d) features, rows in the caller's order."""
        if not hasattr(self, "head_"):
            raise MitigationError(f"{type(self).__name__} is not fitted; call fit(train, val) first")
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_ or not np.all(np.isfinite(x)):
            raise MitigationError(f"expected finite features of shape (n, {self.n_features_}), got {x.shape}")
        return self.head_.predict_proba(x)

    def _fit_one(self, train: Split, val: Split, params: dict[str, Any]) -> tuple[LinearHead, int, float]:
        """(head, chosen step, val selection score) for one grid point; rows sorted by id."""
        raise NotImplementedError

    def _final(self, train: Split, val: Split, params: dict[str, Any], head: LinearHead) -> LinearHead:
        """The head to keep once ``params`` won the selection (default: the selected head)."""
        return head

    def _uniform(self, sample_ids: np.ndarray, *purpose: Any) -> np.ndarray:
        """(n,) keyed uniforms in [0, 1), a pure function of (name, key, purpose, sample id)."""
        name = self.strategy_name or type(self).__name__
        return keyed_uniform(f"medstrata.mitigation/{name}/{self.key}", sample_ids.astype(str).tolist(),
                             "/".join(str(p) for p in purpose))


def _check(split: Any, which: str) -> None:
    if not isinstance(split, Split):
        raise MitigationError(f"mitigation strategies take a medstrata.mitigation.Split as {which}, "
                              f"got {type(split).__name__}")
    if split.n < 2 or len(np.unique(split.labels)) < 2:
        raise MitigationError(f"the {which} split has {split.n} samples of {len(np.unique(split.labels))} "
                              "class(es); at least 2 samples of 2 classes are needed")


def citation_block(doc: str | None) -> str:
    """The text after ``Citation:`` in a module docstring, dedented (the methods' rule)."""
    from medstrata.methods.base import citation_block as block

    return block(doc)
