"""GEORGE's overclustering step (Sohoni et al. 2020, Sec. 4.2 and the official cluster stage).

Each base cluster of one class is split into ``factor`` sub-clusters by its own Gaussian mixture.
A sub-cluster is kept when (i) its points' mean silhouette under the split labelling exceeds both
their mean silhouette under the base labelling and ``sil_threshold``, (ii) its mean loss is at
least its base cluster's, and (iii) it holds at least ``max(size_pct * n, size_abs)`` points. Kept
sub-clusters become clusters of their own; the points of the sub-clusters not kept stay together as
what remains of their base cluster (GEORGE's label map). The official code also requires
``size_abs`` points of a second (validation) split per kept sub-cluster; methods here are fitted on
one split, so that condition is checked on the fitting split only.

Scores are soft: P(final cluster f | z) = sum over the (base i, sub j) mapped to f of
P(i | z) P(j | z, sub-mixture of i).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Overclustering:
    """A fitted split of the base clusters of one class.

    Attributes:
        subs: base cluster index -> its sub-mixture (absent when the cluster was not split).
        label_map: (base i, sub j) -> final cluster index; base clusters not split map (i, 0).
        n_clusters: number of final clusters.
    """

    factor: int
    subs: dict[int, Any] = field(default_factory=dict)
    label_map: dict[tuple[int, int], int] = field(default_factory=dict)
    n_clusters: int = 0

    def predict_proba(self, base_post: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(m, n_clusters) posteriors from the base posteriors (m, k) and the reduced points z."""
        out = np.zeros((len(z), self.n_clusters))
        for i in range(base_post.shape[1]):
            if i in self.subs:
                sub = self.subs[i].predict_proba(z) if len(z) else np.zeros((0, self.factor))
                for j in range(sub.shape[1]):
                    out[:, self.label_map[(i, j)]] += base_post[:, i] * sub[:, j]
            else:
                out[:, self.label_map[(i, 0)]] += base_post[:, i]
        return out


def overcluster(z: np.ndarray, base: np.ndarray, losses: np.ndarray, factor: int,
                make_mixture: Callable[[int, int], Any], sil_threshold: float = 0.0,
                size_pct: float = 0.005, size_abs: int = 25) -> Overclustering:
    """Split and filter the base clusters of one class.

    Args:
        z: (m, dims) reduced embeddings of the class's fitting samples.
        base: (m,) base cluster labels in 0..k-1.
        losses: (m,) per-sample losses.
        factor: sub-clusters per base cluster (GEORGE's ``overcluster_factor``, default 5).
        make_mixture: (base index, n_components) -> unfitted mixture with fit/predict/predict_proba.
    """
    k = int(base.max()) + 1 if len(base) else 1
    oc = Overclustering(factor)
    sub_labels = np.zeros(len(z), dtype=np.int64)
    for i in range(k):
        member = base == i
        if np.sum(member) > factor:
            oc.subs[i] = make_mixture(i, factor).fit(z[member])
            sub_labels[member] = oc.subs[i].predict(z[member])
    keep = _kept(z, base, sub_labels, losses, oc.subs, factor, sil_threshold,
                 max(size_pct * len(z), size_abs))
    oc.label_map, oc.n_clusters = _label_map(k, factor, oc.subs, keep)
    return oc


def _kept(z, base, sub, losses, subs, factor, sil_threshold, min_size) -> set[tuple[int, int]]:
    """The (base, sub) pairs that pass GEORGE's three tests."""
    fine = base * factor + sub
    sil_base, sil_fine = _silhouettes(z, base), _silhouettes(z, fine)
    keep = set()
    for i in subs:
        base_loss = losses[base == i].mean()
        for j in range(factor):
            member = fine == i * factor + j
            if member.sum() < min_size:
                continue
            better = sil_fine[member].mean() > max(sil_base[member].mean(), sil_threshold)
            if better and losses[member].mean() >= base_loss:
                keep.add((i, j))
    return keep


def _label_map(k: int, factor: int, subs: dict, keep: set) -> tuple[dict, int]:
    """GEORGE's map: a base cluster whose sub-clusters are not all kept keeps one cluster for the
    rest; each kept sub-cluster gets its own index."""
    label_map, nxt = {}, 0
    for i in range(k):
        if i not in subs:
            label_map[(i, 0)] = nxt
            nxt += 1
            continue
        kept = [j for j in range(factor) if (i, j) in keep]
        rest = None
        if len(kept) < factor:
            rest, nxt = nxt, nxt + 1
        for j in range(factor):
            if (i, j) in keep:
                label_map[(i, j)], nxt = nxt, nxt + 1
            else:
                label_map[(i, j)] = rest
    return label_map, nxt


def _silhouettes(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(m,) silhouette of every point; zeros when the labelling has < 2 or > m - 1 clusters."""
    from sklearn.metrics import silhouette_samples

    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(z) - 1:
        return np.zeros(len(z))
    return silhouette_samples(z, labels)


def mean_cluster_silhouette(z: np.ndarray, labels: np.ndarray) -> float:
    """GEORGE's k-search score: the mean over clusters of each cluster's mean silhouette."""
    sil = _silhouettes(z, labels)
    return float(np.mean([sil[labels == c].mean() for c in np.unique(labels)]))
