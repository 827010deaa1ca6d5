"""k-means per class on the embeddings, returning the clusters with the highest error rate.

Each class present in the fitting split is clustered separately into ``n_clusters`` clusters
(default: ``n_slices``; never more than the class's number of distinct embeddings). Every cluster
gets the error rate of its fitting members; the ``n_slices`` clusters with the highest error rate
over all classes (ties: larger cluster, then class, then cluster index) become the columns. A
scored sample is assigned to the nearest centroid of its own class and gets 1 in that cluster's
column, 0 elsewhere (hard scores). Classes absent when fitting get no cluster; if fewer clusters
exist than ``n_slices``, the extra columns are zero. k-means++ is seeded from ``random_state``.

Citation:
    Oakden-Rayner, Dunnmon, Carneiro, Ré. "Hidden Stratification Causes Clinically Meaningful
    Failures in Machine Learning for Medical Imaging." ACM CHIL 2020 (algorithmic measurement:
    k-means on model features).
"""

from __future__ import annotations

import numpy as np

from medstrata.methods._common import top_clusters
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("kmeans")
class KMeansMethod(SliceDiscoveryMethod):
    """Per-class k-means; the highest-error clusters are the slices."""

    version = "1"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0,
                 n_clusters: int | None = None) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.n_clusters = n_clusters

    def _fit(self, problem: Problem) -> None:
        from sklearn.cluster import KMeans

        x = problem.embeddings.astype(np.float64)
        wrong = ~problem.correct
        self.centroids_: dict[int, np.ndarray] = {}
        rows = []  # (class, cluster, error rate, size)
        for c in np.unique(problem.labels):
            member = problem.labels == c
            k = min(self.n_clusters or self.n_slices, len(np.unique(x[member], axis=0)))
            km = KMeans(n_clusters=k, n_init=10, random_state=self._seed("kmeans", int(c)))
            assign = km.fit_predict(x[member])
            self.centroids_[int(c)] = km.cluster_centers_
            for j in range(k):
                rows.append((int(c), j, wrong[member][assign == j].mean(), np.sum(assign == j)))
        table = np.array(rows, dtype=np.float64)
        keep = top_clusters(table[:, 2], table[:, 3], self.n_slices)
        self.slices_ = table[keep, :2].astype(np.int64)

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, #selected clusters) 0/1 memberships."""
        x = problem.embeddings.astype(np.float64)
        nearest = np.full(problem.n, -1)
        for c, cent in self.centroids_.items():
            member = problem.labels == c
            d = ((x[member, None, :] - cent[None]) ** 2).sum(axis=2)
            nearest[member] = d.argmin(axis=1)
        hit = (problem.labels[:, None] == self.slices_[None, :, 0]) & (
            nearest[:, None] == self.slices_[None, :, 1])
        return hit.astype(np.float64)
