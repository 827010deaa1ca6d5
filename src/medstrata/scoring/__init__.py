"""Scoring: every MedStrata metric, defined once (see ``docs/metrics.md`` for worked examples).

* :func:`score_split_half`: the default scorer. Recovery of each true stratum by a method's
  predicted slices, with the match chosen on one half of test and scored on the other (AP, expected
  P@10 and P@25, AUROC, hard precision/recall/F1, AMI, ARI, split-half agreement, dcbench P@10).
* :func:`score_recovery`: the same metrics with the match chosen and scored on all of test
  (dcbench/Domino protocol; optimistic, kept for comparison).
* :func:`worst_group_metrics`: worst-group accuracy and AUROC of the reference model over
  class x stratum groups.
* :func:`summarize`: mean, std and keyed bootstrap interval over seeds.
* :func:`paired_ranking`: paired hierarchical-bootstrap comparison and Holm-corrected ranking.

The scorer reads ground-truth strata; discovery methods never import this package.
"""

from medstrata.scoring.aggregate import bootstrap_ci, summarize
from medstrata.scoring.binary import auroc, average_precision, hard_prf, precision_at_k, rank_order
from medstrata.scoring.clustering import adjusted_mutual_info, adjusted_rand_index
from medstrata.scoring.paired import holm_adjust, paired_ranking
from medstrata.scoring.recovery import (
    clustering_agreement, hard_assignment, recovery_for_stratum, score_recovery,
    score_recovery_facts,
)
from medstrata.scoring.resample import cell_bootstrap_weights, weighted_average_precision
from medstrata.scoring.split_half import score_split_half, split_halves
from medstrata.scoring.worst_group import worst_group_metrics

__all__ = [
    "adjusted_mutual_info", "adjusted_rand_index", "auroc", "average_precision", "bootstrap_ci",
    "cell_bootstrap_weights", "clustering_agreement", "hard_assignment", "hard_prf",
    "holm_adjust", "paired_ranking", "precision_at_k", "rank_order", "recovery_for_stratum",
    "score_recovery", "score_recovery_facts", "score_split_half", "split_halves", "summarize",
    "weighted_average_precision", "worst_group_metrics",
]
