"""ERM: the plain cross-entropy last layer on the train features, no groups (the reference of the
gap closed). Grid: L2 strength; steps and L2 chosen by worst-**class** accuracy on val.

Citation:
    Vapnik, "Principles of Risk Minimization for Learning Theory", NeurIPS 1991 (empirical risk
    minimisation).
    Yang, Zhang, Katabi, Ghassemi, "Change is Hard: A Closer Look at Subpopulation Shift"
    (SubpopBench), ICML 2023 (worst-class accuracy for model selection without groups).
"""

from __future__ import annotations

import numpy as np

from medstrata.mitigation.base import MitigationStrategy, citation_block
from medstrata.mitigation.head import TrainConfig, train_head
from medstrata.mitigation.registry import register_strategy

CITATION = citation_block(__doc__)


@register_strategy("erm")
class ERM(MitigationStrategy):
    """Uniform sample weights; any groups given are ignored (selection uses the classes)."""

    version = "1"
    citation = CITATION
    uses_groups = False
    grid = [{"l2": 1e-4}, {"l2": 1e-2}]

    def _fit_one(self, train, val, params):
        train, val = _without_groups(train), _without_groups(val)
        return train_head(train, val, lambda step, losses: np.ones_like(losses), TrainConfig(l2=params["l2"]))


def _without_groups(split):
    """``split`` with ``groups = None``: ERM never sees groups, even when given some."""
    from dataclasses import replace

    return replace(split, groups=None)
