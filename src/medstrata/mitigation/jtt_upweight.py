"""JTT-style upweighting: retrain the last layer with the flagged train samples weighted
``lambda_up`` and the rest 1.

Flagged = outside the largest discovered group of their class (with groups), or misclassified by
the reference model (without; JTT's error set), see :meth:`medstrata.mitigation.data.Split.flagged`.
Grid: ``lambda_up``; steps chosen by the worst discovered-group accuracy on val.

Citation:
    Liu, Haghgoo, Chen, Raghunathan, Koh, Sagawa, Liang, Finn, "Just Train Twice: Improving Group
    Robustness without Training Group Information", ICML 2021.
"""

from __future__ import annotations

import numpy as np

from medstrata.mitigation.base import MitigationStrategy, citation_block
from medstrata.mitigation.head import TrainConfig, train_head
from medstrata.mitigation.registry import register_strategy

CITATION = citation_block(__doc__)


@register_strategy("jtt_upweight")
class JTTUpweight(MitigationStrategy):
    """Upweight the flagged samples by ``lambda_up``."""

    version = "1"
    citation = CITATION
    grid = [{"lambda_up": lam, "l2": 1e-3} for lam in (5.0, 20.0, 50.0)]

    def _fit_one(self, train, val, params):
        weights = np.where(train.flagged(), float(params["lambda_up"]), 1.0)
        return train_head(train, val, lambda step, losses: weights, TrainConfig(l2=params["l2"]))
