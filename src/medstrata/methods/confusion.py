"""ConfusionSDM: one slice per cell (y, ŷ) of the confusion matrix.

The score of sample i for cell (a, b) is ``[y_i = a] * p_i(b)``: members of class ``a``, ranked by
the probability the model gives to ``b``. Columns are the cells in this order: off-diagonal (error)
cells by their count on the fitting split, descending, then diagonal cells by count, descending;
ties by (a, b). The first ``n_slices`` cells are returned; if ``n_slices`` exceeds the C² cells, the
extra columns are zero. The method is deterministic and uses no randomness.

Citation:
    Eyuboglu, Varma, Saab, Delbrouck, Lee-Messer, Dunnmon, Zou, Ré. "Domino: Discovering
    Systematic Errors with Cross-Modal Embeddings." ICLR 2022 (the ConfusionSDM baseline, which
    beat the Domino mixture on correlation slices).
"""

from __future__ import annotations

import numpy as np

from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("confusion")
class ConfusionMethod(SliceDiscoveryMethod):
    """One slice per confusion-matrix cell, errors first."""

    version = "1"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0) -> None:
        self.n_slices = n_slices
        self.random_state = random_state

    def _fit(self, problem: Problem) -> None:
        c = problem.n_classes
        counts = np.zeros((c, c), dtype=np.int64)
        np.add.at(counts, (problem.labels, problem.preds), 1)
        a, b = np.divmod(np.arange(c * c), c)
        order = np.lexsort((b, a, -counts[a, b], a == b))
        self.cells_ = np.stack([a[order], b[order]], axis=1)[: self.n_slices]

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, min(n_slices, C²)) soft cell memberships."""
        member = problem.labels[:, None] == self.cells_[None, :, 0]
        return member * problem.probs[:, self.cells_[:, 1]]
