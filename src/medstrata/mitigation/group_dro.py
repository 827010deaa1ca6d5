"""GroupDRO on the last layer: online exponentiated-gradient weights over the (discovered) groups.

Sagawa et al.'s online algorithm, full batch: at step t, with ``l_g`` the mean cross-entropy of
train group g under the current head, ``q_g <- q_g * exp(eta * l_g)`` then ``q <- q / sum(q)``
(``q`` starts uniform over the groups present in train), and the head takes one Adam step on
``sum_g q_g l_g + l2 / 2 ||W||^2``, i.e. sample i weighs ``q_{g(i)} / n_{g(i)}``. Groups are the
discovered ``(class, slice)`` groups of train (:mod:`medstrata.mitigation.data`); without groups,
the classes. Grid: ``eta`` (``l2`` = 1e-3); steps and grid point chosen by the worst discovered-group
accuracy on val (:func:`medstrata.mitigation.head.selection_score`).

**Warm start** (version 2): the head starts from the ``erm`` head fitted on the same train rows
(its own selection: worst-class accuracy on val), and that head is the step-0 candidate of the
selection. Last-layer retraining fine-tunes a trained head; from ``W = 0`` the selection could keep
a barely trained head whose worst val group scored high by chance (3 of 8 oracle runs on the
spurious-marker task kept step 20; decided on dev seeds, docs/mitigation.md §6b).

Citation:
    Sagawa, Koh, Hashimoto, Liang, "Distributionally Robust Neural Networks for Group Shifts: On
    the Importance of Regularization for Worst-Case Generalization", ICLR 2020 (online GroupDRO,
    Algorithm 1).
    Sohoni, Dunnmon, Angus, Gu, Ré, "No Subclass Left Behind", NeurIPS 2020 (GroupDRO with
    discovered groups, GEORGE).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from medstrata.mitigation.base import MitigationStrategy, citation_block
from medstrata.mitigation.head import TrainConfig, train_head
from medstrata.mitigation.registry import register_strategy

CITATION = citation_block(__doc__)


@register_strategy("group_dro")
class GroupDRO(MitigationStrategy):
    """Last-layer GroupDRO (the default strategy)."""

    version = "2"
    citation = CITATION
    grid = [{"eta": eta, "l2": 1e-3} for eta in (0.01, 0.1, 1.0)]

    def _fit_one(self, train, val, params):
        return train_head(train, val, DROWeigher(train.eval_groups(), params["eta"]), TrainConfig(l2=params["l2"]),
                          init=self._erm_head(train, val))

    def _erm_head(self, train, val):
        """The ``erm`` head of these rows, fitted with the erm strategy's own grid and selection:
        once per ``fit`` (every grid point gets the same sorted splits), and once per process for
        the same inputs (:func:`erm_head`: every method's head of a task starts from it)."""
        if getattr(self, "_erm_for", None) is not train:
            self._erm_for, self._erm = train, erm_head(self.key, train, val)
        return self._erm


#: The last few erm heads by content (see :func:`erm_head`).
_ERM_HEADS: "OrderedDict[str, object]" = OrderedDict()


def erm_head(key: str, train, val):
    """The ``erm`` head of ``(train, val)`` (sorted Splits) fitted with ``key``, memoised by a hash of
    everything erm reads (ids, features, labels of both splits; groups are ignored by erm). erm is a
    pure function of these, so a memoised head equals a refitted one bit for bit."""
    from medstrata.hashing import content_hash, sha256_array
    from medstrata.mitigation.registry import get_strategy

    digest = content_hash({"key": key, **{f"{name}_{field}": sha256_array(getattr(split, field))
                                          for name, split in (("train", train), ("val", val))
                                          for field in ("features", "labels")},
                           "ids": [split.sample_ids.astype(str).tolist() for split in (train, val)]})
    if digest not in _ERM_HEADS:
        _ERM_HEADS[digest] = get_strategy("erm", key=key).fit(train, val).head_
        while len(_ERM_HEADS) > 8:
            _ERM_HEADS.popitem(last=False)
    return _ERM_HEADS[digest]


class DROWeigher:
    """Sample weights of online GroupDRO over ``groups (n,)`` with step size ``eta``."""

    def __init__(self, groups: np.ndarray, eta: float) -> None:
        self.ids, self.index = np.unique(groups, return_inverse=True)
        self.sizes = np.bincount(self.index).astype(np.float64)
        self.q = np.full(len(self.ids), 1.0 / len(self.ids))
        self.eta = float(eta)

    def __call__(self, step: int, losses: np.ndarray) -> np.ndarray:
        """(n,) weights ``q_g(i) / n_g(i)`` after the exponentiated-gradient update on (n,) losses."""
        group_loss = np.bincount(self.index, weights=losses) / self.sizes
        self.q = self.q * np.exp(self.eta * group_loss)
        self.q = self.q / self.q.sum()
        return self.q[self.index] / self.sizes[self.index]
