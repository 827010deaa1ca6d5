"""DFR: last-layer retraining on a group-balanced subsample of **held-out** data (val).

Val is split in two halves by a keyed draw per sample id (``u < 0.5``: half A). For each ``C`` of
the grid, an L1 logistic regression (liblinear, one-vs-rest with more than two classes; features
standardised with half A's mean and std) is fitted on each of ``n_subsamples`` group-balanced
subsamples of half A and the coefficients are averaged; the ``C`` with the best worst
discovered-group accuracy on half B wins. The kept head is then refitted the same way on **all** of
val with that ``C``. Train is not used.

Balanced subsample r: from every group of the split (discovered ``(class, slice)`` groups; the
classes without groups) the ``m`` members with the smallest keyed draw ``u(sample id, r)``, where
``m = max(size of the smallest group, MIN_PER_GROUP)``; smaller groups are taken whole.

Citation:
    Kirichenko, Izmailov, Wilson, "Last Layer Re-Training is Sufficient for Robustness to Spurious
    Correlations", ICLR 2023 (DFR; balanced held-out subsets, L1 logistic regression, averaged
    over subsamples).
"""

from __future__ import annotations

import numpy as np

from medstrata.hashing import keyed_seed
from medstrata.mitigation.base import MitigationStrategy, citation_block
from medstrata.mitigation.data import Split
from medstrata.mitigation.head import LinearHead, selection_score, standardiser
from medstrata.mitigation.registry import register_strategy

MIN_PER_GROUP = 20

CITATION = citation_block(__doc__)


@register_strategy("dfr")
class DFR(MitigationStrategy):
    """Group-balanced L1 logistic regression on val, averaged over subsamples."""

    version = "1"
    citation = CITATION
    grid = [{"C": c, "n_subsamples": 5} for c in (1.0, 0.3, 0.1, 0.03)]

    def _fit_one(self, train, val, params):
        half_a = self._uniform(val.sample_ids, "half") < 0.5
        if half_a.all() or not half_a.any():  # tiny val: both halves are the whole split
            half_a[:] = True
        fit_on, select_on = val.take(half_a), val.take(~half_a if (~half_a).any() else half_a)
        head = self._balanced_lr(fit_on, params)
        return head, 0, selection_score(head, select_on)

    def _final(self, train, val, params, head):
        return self._balanced_lr(val, params)

    def _balanced_lr(self, split: Split, params: dict) -> LinearHead:
        """Mean of the L1 logistic regressions of ``n_subsamples`` balanced subsamples of ``split``."""
        mean, std = standardiser(split.features)
        fits = [self._one_lr(split.take(self._subsample(split, r)), mean, std, params["C"], r)
                for r in range(int(params["n_subsamples"]))]
        W = np.mean([f[0] for f in fits], axis=0)
        return LinearHead(mean, std, W, np.mean([f[1] for f in fits], axis=0))

    def _subsample(self, split: Split, r: int) -> np.ndarray:
        """(n,) bool: the balanced subsample r of ``split`` (module docstring)."""
        groups, u = split.eval_groups(), self._uniform(split.sample_ids, "subsample", r)
        ids, counts = np.unique(groups, return_counts=True)
        m = max(int(counts.min()), MIN_PER_GROUP)
        keep = np.zeros(split.n, dtype=bool)
        for g in ids:
            members = np.flatnonzero(groups == g)
            keep[members[np.argsort(u[members], kind="stable")[:m]]] = True
        return keep

    def _one_lr(self, split: Split, mean, std, C: float, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(W (d, n_classes), b (n_classes,)) of one liblinear L1 fit on ``split``."""
        from sklearn.linear_model import LogisticRegression

        z = (split.features - mean) / std
        W, b = np.zeros((z.shape[1], split.n_classes)), np.zeros(split.n_classes)
        present = np.unique(split.labels)
        if len(present) < 2:  # a subsample with one class: a constant head for it
            b[present[0]] = 1.0
            return W, b
        seed = keyed_seed("medstrata.mitigation/dfr", self.key, r) % (2**31 - 1)
        # liblinear is binary: with more classes, one class-vs-rest fit per class (one-vs-rest)
        for c in present[1:] if len(present) == 2 else present:
            lr = LogisticRegression(C=C, solver="liblinear", random_state=seed, **_l1())
            lr.fit(z, (split.labels == c).astype(np.int64))
            W[:, c], b[c] = lr.coef_[0], lr.intercept_[0]
        return W, b


def _l1() -> dict:
    """The L1 keyword of this scikit-learn: ``l1_ratio=1`` from 1.8 (``penalty`` is deprecated
    there), ``penalty="l1"`` before (where ``l1_ratio`` is ignored by liblinear)."""
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}
