"""Random control: independent uniform scores, a lower bound for every metric.

Each score is a pure function of (``random_state``, sample id, column), drawn with
:func:`medstrata.hashing.keyed_uniform`, so it does not depend on row order, on which other samples
are present, or on the global RNG. ``n_slices`` columns are always returned (no padding).

Citation:
    Sohoni, Dunnmon, Angus, Gu, Ré. "No Subclass Left Behind: Fine-Grained Robustness in
    Coarse-Grained Classification Problems." NeurIPS 2020 (random-group control).
    Eyuboglu et al. "Domino: Discovering Systematic Errors with Cross-Modal Embeddings."
    ICLR 2022 (dcbench protocol).
"""

from __future__ import annotations

import numpy as np

from medstrata.hashing import keyed_uniform
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem


CITATION = citation_block(__doc__)


@register_method("random")
class RandomMethod(SliceDiscoveryMethod):
    """Uniform random slice scores (control)."""

    version = "1"
    is_control = True
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0) -> None:
        self.n_slices = n_slices
        self.random_state = random_state

    def _fit(self, problem: Problem) -> None:
        self.seed_ = self._seed("scores")

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, n_slices) uniform in [0, 1)."""
        cols = [keyed_uniform(str(self.seed_), problem.sample_ids, f"col{j}")
                for j in range(self.n_slices)]
        return np.stack(cols, axis=1)
