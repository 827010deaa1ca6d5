"""A texture space no baseline uses, and coherent latent groups (k-means clusters) in it.

:func:`orientation_descriptor` is a HOG-like descriptor (Dalal & Triggs 2005): each image is
z-scored, its gradient orientations (8 unsigned bins) are histogrammed in a 4x4 grid of cells,
weighted by gradient magnitude, and every cell's histogram is L2-normalised. It therefore sees the
*arrangement* of edges (pose, shape of structures, texture direction), not brightness or contrast.
Volumes use their three central orthogonal slices. :func:`kmeans` is plain Lloyd's algorithm with
k-means++ seeding from a keyed generator, in float64, so clusters are a pure function of the key.

Citation:
    Dalal & Triggs. Histograms of oriented gradients for human detection. CVPR 2005.
    Arthur & Vassilvitskii. k-means++: the advantages of careful seeding. SODA 2007.
"""

from __future__ import annotations

import numpy as np

from medstrata.errors import ImpossibleSpecError
from medstrata.hashing import keyed_rng

BINS, CELLS, ITERS = 8, 4, 50


def _hog2d(grey: np.ndarray) -> np.ndarray:
    """(n, H, W) float -> (n, CELLS*CELLS*BINS) orientation histograms, L2-normalised per cell."""
    n, h, w = grey.shape
    z = (grey - grey.mean(axis=(1, 2), keepdims=True)) / np.maximum(grey.std(axis=(1, 2), keepdims=True), 1e-6)
    gy, gx = np.gradient(z, axis=(1, 2))
    mag, ang = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
    b = np.minimum((ang / np.pi * BINS).astype(np.int64), BINS - 1)
    rows = np.minimum(np.arange(h) * CELLS // h, CELLS - 1)
    cols = np.minimum(np.arange(w) * CELLS // w, CELLS - 1)
    cell = (rows[:, None] * CELLS + cols[None, :])[None]
    idx = (np.arange(n)[:, None, None] * CELLS * CELLS + cell) * BINS + b
    hist = np.bincount(idx.ravel(), weights=mag.ravel(), minlength=n * CELLS * CELLS * BINS)
    hist = hist.reshape(n, CELLS * CELLS, BINS)
    hist /= np.maximum(np.linalg.norm(hist, axis=2, keepdims=True), 1e-6)
    return hist.reshape(n, -1)


def orientation_descriptor(images: np.ndarray, image_kind: str) -> np.ndarray:
    """(n, d) float64 descriptor of (n, H, W), (n, H, W, 3) or (n, D, H, W) uint8 images."""
    x = images.astype(np.float64)
    if image_kind == "2d_rgb":
        return _hog2d(x.mean(axis=-1))
    if image_kind == "3d":
        d, h, w = x.shape[1:]
        return np.concatenate([_hog2d(x[:, d // 2]), _hog2d(x[:, :, h // 2]), _hog2d(x[:, :, :, w // 2])], axis=1)
    return _hog2d(x)


def kmeans(x: np.ndarray, k: int, key: str) -> np.ndarray:
    """(k, d) centres of Lloyd's k-means on (n, d) ``x``, k-means++ seeded from ``key``."""
    if len(x) < k:
        raise ImpossibleSpecError(f"k-means needs at least k={k} samples, got {len(x)}")
    rng = keyed_rng(key, "kmeans++")
    centres = [x[int(rng.integers(len(x)))]]
    for _ in range(1, k):
        d2 = ((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1).min(axis=1)
        centres.append(x[int(np.searchsorted(np.cumsum(d2), rng.random() * d2.sum()))])
    c = np.asarray(centres)
    for _ in range(ITERS):
        lab = nearest(x, c)
        new = np.asarray([x[lab == j].mean(axis=0) if (lab == j).any() else c[j] for j in range(k)])
        if np.array_equal(new, c):
            break
        c = new
    return c


def nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n,) index of the nearest centre (ties: lowest index)."""
    return ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=1)


def texture_cluster(state, in_class: np.ndarray, fraction: float, purpose: str) -> np.ndarray:
    """(n,) bool: members of ``in_class`` in one k-means cluster (k = round(1 / fraction), >= 2).

    Among the clusters whose train+val share is within a factor 2 of ``fraction``, the one chosen is
    the one the global statistic battery (:mod:`medstrata.validity.shortcuts`) separates *worst*
    from the rest of the class on train+val (test is never looked at); if none is in range, the
    cluster whose share is closest to ``fraction``.
    """
    from medstrata.validity.shortcuts import folded_auroc, image_statistics

    fit = in_class & (state.split != "test")
    idx = np.flatnonzero(in_class)
    if not fit.any():
        raise ImpossibleSpecError("texture_cluster needs train/val samples of the class")
    feats = orientation_descriptor(state.images[idx], state.image_kind)
    k = max(2, int(round(1 / fraction)))
    centres = kmeans(feats[fit[idx]], k, f"{state.key}|{purpose}")
    lab = nearest(feats, centres)
    lab_fit = lab[fit[idx]]
    share = np.bincount(lab_fit, minlength=k) / len(lab_fit)
    ok = [j for j in range(k) if fraction / 2 <= share[j] <= 2 * fraction and share[j] < 1]
    if ok:
        stats = image_statistics(state.images[idx[fit[idx]]])
        worst = {j: max(folded_auroc(v, lab_fit == j) for v in stats.values()) for j in ok}
        chosen = min(ok, key=lambda j: (worst[j], abs(share[j] - fraction), j))
    else:
        chosen = int(np.argmin(np.abs(share - fraction)))
    out = np.zeros(len(in_class), dtype=bool)
    out[idx[lab == chosen]] = True
    return out
