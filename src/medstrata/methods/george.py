"""GEORGE (discovery stage): UMAP + Gaussian mixture per class, k chosen by silhouette, optional
overclustering.

Following Sohoni et al. and their official cluster stage (github.com/HazyResearch/
hidden-stratification, ``AutoKMixtureModel`` and ``OverclusterModel``): for each class separately,
reduce the embeddings with UMAP (to ``umap_dims`` = 2 dims, ``min_dist`` = 0, ``n_neighbors`` = 10,
seeded from ``random_state``), then fit a full-covariance Gaussian mixture (``n_init`` = 3 restarts)
for every k in 2..``max_clusters`` (official default k = 10) and keep the k whose clustering has
the best *mean per-cluster silhouette* (the official score; ties go to the larger k; k = 1 when no
k >= 2 gives a valid silhouette). With ``overcluster=True`` each cluster is then split into
``overcluster_factor`` = 5 sub-clusters and a sub-cluster is kept when it is more coherent, at
least as lossy and large enough (see :mod:`medstrata.methods._overcluster`; official defaults
``sil_threshold`` = 0, size >= max(0.5 %, 25)). The official default is ``overcluster=False``;
its ISIC and CelebA configs turn it on. GEORGE's second stage (GroupDRO with the clusters as
groups) belongs to mitigation, not here.

Small classes: UMAP needs a neighbourhood graph, so a class with fewer than ``min_umap_samples``
(default 30) fitting samples is reduced with PCA to ``umap_dims`` dims instead (deterministic).
Deviation: GEORGE clusters the training split's activations; methods here see only the
validation Problem, so clusters are fitted on it.
Speed: UMAP's exact small-data distance matrix is computed by
:func:`medstrata.methods._umap_exact.fast_distances` (the same numba metric, called from compiled
code instead of once per pair from Python; bit-identical output).

Slices: every cluster gets the error rate of its fitting members (hard assignment); the
``n_slices`` clusters with the highest error rate over all classes (ties: larger, then class, then
index) are the columns. A scored sample gets its cluster posterior for the clusters of its own
class and 0 for the others. Classes absent when fitting get no cluster; if fewer clusters exist
than ``n_slices``, the extra columns are zero.

Citation:
    Sohoni, Dunnmon, Angus, Gu, Ré. "No Subclass Left Behind: Fine-Grained Robustness in
    Coarse-Grained Classification Problems." NeurIPS 2020.
    McInnes, Healy, Melville. "UMAP: Uniform Manifold Approximation and Projection for Dimension
    Reduction." arXiv:1802.03426, 2018.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from medstrata.methods._common import fit_pca, top_clusters
from medstrata.methods._umap_exact import fast_distances
from medstrata.methods._overcluster import mean_cluster_silhouette, overcluster
from medstrata.methods.base import SliceDiscoveryMethod, citation_block
from medstrata.methods.registry import register_method
from medstrata.problem import Problem

CITATION = citation_block(__doc__)


@register_method("george")
class GeorgeMethod(SliceDiscoveryMethod):
    """Per-class UMAP + GMM, k by silhouette; the highest-error clusters are the slices."""

    version = "2"
    citation = CITATION

    def __init__(self, n_slices: int = 5, random_state: int | None = 0, max_clusters: int = 10,
                 umap_dims: int = 2, n_neighbors: int = 10, min_umap_samples: int = 30,
                 n_init: int = 3, overcluster: bool = False, overcluster_factor: int = 5,
                 sil_threshold: float = 0.0, size_threshold_pct: float = 0.005,
                 size_threshold_abs: int = 25) -> None:
        self.n_slices = n_slices
        self.random_state = random_state
        self.max_clusters = max_clusters
        self.umap_dims = umap_dims
        self.n_neighbors = n_neighbors
        self.min_umap_samples = min_umap_samples
        self.n_init = n_init
        self.overcluster = overcluster
        self.overcluster_factor = overcluster_factor
        self.sil_threshold = sil_threshold
        self.size_threshold_pct = size_threshold_pct
        self.size_threshold_abs = size_threshold_abs

    def _fit(self, problem: Problem) -> None:
        with threadpool_limits(limits=1):  # tiny 2-D GMMs: threads only add overhead
            self._fit_classes(problem)

    def _fit_classes(self, problem: Problem) -> None:
        x = problem.embeddings.astype(np.float64)
        wrong = ~problem.correct
        self.reducers_: dict[int, Any] = {}
        self.mixtures_: dict[int, Any] = {}
        self.overclusters_: dict[int, Any] = {}
        rows = []  # (class, cluster, error rate, size)
        for c in np.unique(problem.labels).tolist():
            member = problem.labels == c
            z = self._fit_reducer(c, x[member])
            gmm = self._fit_mixture(c, z)
            self.mixtures_[c] = gmm
            if self.overcluster:
                self.overclusters_[c] = overcluster(
                    z, gmm.predict(z), problem.losses[member], int(self.overcluster_factor),
                    lambda i, k, c=c: self._gmm(("oc", c, i), k), self.sil_threshold,
                    self.size_threshold_pct, self.size_threshold_abs)
            post = self._posteriors(c, z)
            assign = post.argmax(axis=1)
            for j in range(post.shape[1]):
                size = np.sum(assign == j)
                err = wrong[member][assign == j].mean() if size else 0.0
                rows.append((c, j, err, size))
        table = np.array(rows, dtype=np.float64)
        keep = top_clusters(table[:, 2], table[:, 3], self.n_slices)
        self.slices_ = table[keep, :2].astype(np.int64)

    def _score(self, problem: Problem) -> np.ndarray:
        """(n, #selected clusters) GMM posteriors within each sample's class."""
        x = problem.embeddings.astype(np.float64)
        out = np.zeros((problem.n, len(self.slices_)))
        for c, gmm in self.mixtures_.items():
            member = problem.labels == c
            cols = np.flatnonzero(self.slices_[:, 0] == c)
            if not member.any() or not len(cols):
                continue
            with threadpool_limits(limits=1):
                post = self._posteriors(c, self._reduce(c, x[member]))
            out[np.ix_(member, cols)] = post[:, self.slices_[cols, 1]]
        return out

    def _posteriors(self, c: int, z: np.ndarray) -> np.ndarray:
        """(m, #clusters of class c) cluster posteriors of reduced points z."""
        post = self.mixtures_[c].predict_proba(z)
        if c in self.overclusters_:
            post = self.overclusters_[c].predict_proba(post, z)
        return post

    def _fit_reducer(self, c: int, x: np.ndarray) -> np.ndarray:
        """Fit class ``c``'s reducer on (m, d) ``x``; returns the (m, umap_dims) reduction."""
        if len(x) < max(self.min_umap_samples, self.umap_dims + 2):
            proj = fit_pca(x, self.umap_dims, whiten="global")
            self.reducers_[c] = proj
            return proj(x)
        import umap

        seed = self._seed("umap", c)
        reducer = umap.UMAP(n_components=self.umap_dims,
                            n_neighbors=min(self.n_neighbors, len(x) - 1), min_dist=0.0,
                            random_state=seed, transform_seed=seed, n_jobs=1)
        with warnings.catch_warnings(), fast_distances(reducer):
            warnings.filterwarnings("ignore", module=r"umap\.")
            z = reducer.fit_transform(x)
        self.reducers_[c] = reducer
        return np.asarray(z, dtype=np.float64)

    def _reduce(self, c: int, x: np.ndarray) -> np.ndarray:
        reducer = self.reducers_[c]
        if not hasattr(reducer, "transform"):
            return reducer(x)
        with warnings.catch_warnings(), fast_distances(reducer):
            warnings.filterwarnings("ignore", module=r"umap\.")
            return np.asarray(reducer.transform(x), dtype=np.float64)

    def _gmm(self, key: Any, k: int) -> Any:
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(k, covariance_type="full", reg_covar=1e-4, n_init=int(self.n_init),
                               random_state=self._seed("gmm", key, k))

    def _fit_mixture(self, c: int, z: np.ndarray) -> Any:
        """The GMM on (m, dims) ``z`` with the best mean per-cluster silhouette, k = 2..max."""
        best, best_score = self._gmm(c, 1).fit(z), -np.inf
        distinct = len(np.unique(np.round(z, 9), axis=0))
        for k in range(2, min(self.max_clusters, distinct - 1) + 1):
            model = self._gmm(c, k).fit(z)
            labels = model.predict(z)
            if 2 <= len(np.unique(labels)) <= len(z) - 1:
                score = mean_cluster_silhouette(z, labels)
                if score >= best_score:
                    best, best_score = model, score
        return best
