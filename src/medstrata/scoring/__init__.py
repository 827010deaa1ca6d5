"""Scoring: every MedStrata metric, defined once (see ``docs/metrics.md`` for worked examples).

* :func:`score_recovery`: recovery of each true stratum by a method's predicted slices
  (dcbench/Domino match by AP; P@10, P@25, AP, AUROC, hard precision/recall/F1, AMI, ARI).
* :func:`worst_group_metrics`: worst-group accuracy and AUROC of the reference model over
  class x stratum groups.
* :func:`summarize` and :func:`rank_methods`: mean, std, keyed bootstrap interval, and a ranking
  that treats overlapping intervals as ties.

The scorer reads ground-truth strata; discovery methods never import this package.
"""

from medstrata.scoring.aggregate import bootstrap_ci, interval_ranks, rank_methods, summarize
from medstrata.scoring.binary import auroc, average_precision, hard_prf, precision_at_k, rank_order
from medstrata.scoring.clustering import adjusted_mutual_info, adjusted_rand_index
from medstrata.scoring.recovery import (
    clustering_agreement, recovery_for_stratum, score_recovery, score_recovery_facts,
)
from medstrata.scoring.worst_group import worst_group_metrics

__all__ = [
    "adjusted_mutual_info", "adjusted_rand_index", "auroc", "average_precision", "bootstrap_ci",
    "clustering_agreement", "hard_prf", "interval_ranks", "precision_at_k", "rank_methods",
    "rank_order", "recovery_for_stratum", "score_recovery", "score_recovery_facts", "summarize",
    "worst_group_metrics",
]
