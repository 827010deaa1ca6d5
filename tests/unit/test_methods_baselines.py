"""Behaviour of individual baselines on hand-made inputs (what each docstring promises)."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from medstrata.methods import get_method
from medstrata.methods._common import fit_pca, within_rank
from medstrata.methods.domino_mixture import _dhondt
from medstrata.methods.synthetic import make_planted
from medstrata.problem import Problem


@pytest.fixture(autouse=True)
def _one_thread():
    with threadpool_limits(limits=1):
        yield


def _problem(labels, probs, emb=None):
    labels = np.asarray(labels)
    probs = np.asarray(probs, dtype=float)
    n = len(labels)
    emb = np.zeros((n, 3), np.float32) if emb is None else np.asarray(emb, np.float32)
    ids = np.array([f"id{i:02d}" for i in range(n)])
    losses = -np.log(probs[np.arange(n), labels])
    return Problem(ids, labels, probs, losses, emb)


# two classes; class 1 has two errors (predicted 0), class 0 has one (predicted 1)
P = _problem([0, 0, 0, 1, 1, 1, 1], [[.9, .1], [.8, .2], [.3, .7], [.2, .8], [.6, .4], [.9, .1],
                                     [.1, .9]])


def test_confusion_orders_error_cells_first():
    m = get_method("confusion", n_slices=5).fit(P)
    assert m.cells_.tolist() == [[1, 0], [0, 1], [0, 0], [1, 1]]
    s = m.predict_proba(P)
    assert np.allclose(s[:, 0], [0, 0, 0, .2, .6, .9, .1]) and np.all(s[:, 4] == 0)


def test_loss_rank_ranks_within_class_most_erroneous_class_first():
    s = get_method("loss_rank", n_slices=3).fit(P).predict_proba(P)
    assert np.allclose(s[3:, 0], [0.5, 0.75, 1.0, 0.25]) and np.all(s[:3, 0] == 0)
    assert np.allclose(s[:3, 1], [1 / 3, 2 / 3, 1.0]) and np.all(s[:, 2] == 0)
    conf = get_method("loss_rank", score="confidence").fit(P).predict_proba(P)
    assert conf[4, 0] == 1.0  # least confident member of class 1 (max prob 0.6)
    with pytest.raises(Exception, match="score must be"):
        get_method("loss_rank", score="bogus").fit(P)


def test_error_set_ref_is_all_errors_then_per_class():
    s = get_method("error_set_ref", n_slices=4).fit(P).predict_proba(P)
    assert s[:, 0].tolist() == [0, 0, 1, 0, 1, 1, 0]
    assert s[:, 1].tolist() == [0, 0, 0, 0, 1, 1, 0] and s[:, 2].tolist() == [0, 0, 1, 0, 0, 0, 0]
    assert np.all(s[:, 3] == 0)


def test_error_set_takes_the_identification_models_errors():
    """JTT's error set comes from the short ERM (id_probs), not from the reference model."""
    from dataclasses import replace

    # the identification model errs on samples 0 and 3 only (both predicted as the other class)
    id_probs = np.array([[.2, .8], [.9, .1], [.8, .2], [.7, .3], [.1, .9], [.2, .8], [.3, .7]])
    p = replace(P, id_probs=id_probs)
    s = get_method("error_set", n_slices=3).fit(p).predict_proba(p)
    assert s[:, 0].tolist() == [1, 0, 0, 1, 0, 0, 0]
    assert s[:, 1].tolist() == [1, 0, 0, 0, 0, 0, 0] and s[:, 2].tolist() == [0, 0, 0, 1, 0, 0, 0]
    with pytest.raises(Exception, match="identification model"):
        get_method("error_set").fit(P)


def test_multiaccuracy_smoothed_derivative_and_binary_view():
    from medstrata.methods.multiaccuracy import binary_view, smoothed_derivative

    p = np.array([0.05, 0.5, 0.95, 0.05, 0.5, 0.95])
    y = np.array([1, 1, 1, 0, 0, 0], dtype=float)
    expected = [20 - 5, 2.0, 1 / 0.95, 1 / 0.95, 2.0, 100 * 0.95 - 80]
    assert np.allclose(smoothed_derivative(p, y), expected)
    q, t = binary_view(P)
    assert np.allclose(q, P.probs[:, 1]) and t.tolist() == P.labels.tolist()


def test_george_overclustering_splits_a_lossy_subcluster():
    """Class 0 is one broad blob plus, inside it, a tight high-loss group: with overclustering the
    group becomes a cluster of its own and the top slice; without it, it cannot."""
    rng = np.random.default_rng(0)
    n, k = 300, 40
    emb = rng.normal(size=(n, 4))
    emb[:k] = rng.normal(size=(k, 4)) * 0.05 + [1.5, 0, 0, 0]
    labels = np.zeros(n, dtype=int)
    probs = np.tile([0.95, 0.05], (n, 1))
    probs[:k] = [0.3, 0.7]  # the tight group is misclassified
    p = _problem(labels, probs, emb)
    kw = dict(n_slices=1, max_clusters=2, umap_dims=4, min_umap_samples=10**6, n_init=1)
    plain = get_method("george", **kw).fit(p)
    over = get_method("george", overcluster=True, **kw).fit(p)
    assert over.overclusters_[0].n_clusters > plain.mixtures_[0].n_components
    top = over.predict_proba(p)[:, 0]
    assert set(np.argsort(-top)[:k].tolist()) == set(range(k))


def test_kmeans_returns_highest_error_cluster_first():
    emb = [[0, 0, 0], [0, 1, 0], [0, 0, 1], [9, 9, 9], [20, 0, 0], [20, 0, 1], [9, 9, 8]]
    p = _problem(P.labels, P.probs, emb)
    m = get_method("kmeans", n_slices=2, n_clusters=2).fit(p)
    s = m.predict_proba(p)
    assert s[:, 0].tolist() == [0, 0, 0, 0, 1, 1, 0]  # class-1 cluster at x=20: both are errors


def test_failure_directions_constant_when_a_class_has_one_outcome():
    emb = np.arange(21, dtype=float).reshape(7, 3)
    p = _problem([0, 0, 1, 1, 1, 1, 1], [[.9, .1], [.8, .2], [.9, .1], [.8, .2], [.3, .7],
                                         [.2, .8], [.4, .6]], emb)
    s = get_method("failure_directions", n_slices=2).fit(p).predict_proba(p)
    assert np.allclose(s[:2, 1], 0.0)  # class 0 always right: constant error rate 0
    assert s[2:4, 0].min() > s[4:6, 0].max()  # the two wrong class-1 samples score highest


def test_domino_em_increases_likelihood_and_allocates_by_cell_size():
    assert _dhondt(np.array([50, 10, 40]), 5).tolist() == [0, 2, 1, 0, 2]
    planted = make_planted(120, difficulty="medium", seed=4, split="val").problem
    lls = []
    for it in (1, 3, 10, 30):
        m = get_method("domino_mixture", max_iter=it, tol=-np.inf).fit(planted)
        x, y, yh = m._inputs(planted)
        lls.append(m._e_step(x, y, yh)[1])
    assert all(b >= a - 1e-6 for a, b in zip(lls, lls[1:])), lls
    assert m.means_.shape == (25, min(16, 120)) and np.isclose(m.weights_.sum(), 1.0)


def test_spotlight_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    x, loss = rng.normal(size=(40, 3)), rng.gamma(2.0, size=40)
    m = get_method("spotlight", penalty=10.0)
    c, a, size = rng.normal(size=3), -0.5, 12.0  # size above the total weight: penalty active

    def objective(c, a):
        w = np.exp(-0.5 * np.exp(a) * ((x - c) ** 2).sum(1))
        return -(w @ loss) / w.sum() + 10.0 * (max(0.0, size - w.sum()) / size) ** 2

    grad = m._gradient(x, loss, size, c, a)
    eps = 1e-6
    num = [(objective(c + eps * e, a) - objective(c - eps * e, a)) / (2 * eps) for e in np.eye(3)]
    num.append((objective(c, a + eps) - objective(c, a - eps)) / (2 * eps))
    assert np.allclose(grad, num, rtol=1e-4, atol=1e-7)


def test_spotlight_respects_minimum_size():
    p = make_planted(200, difficulty="easy", seed=2, split="val").problem
    m = get_method("spotlight", n_slices=1, min_weight=0.02).fit(p)
    assert m.predict_proba(p)[:, 0].sum() >= 0.02 * 200 - 1e-9


class _RecordingUMAP:
    """Stands in for ``umap.UMAP`` (whose numba JIT costs ~15 s): records its arguments and
    projects on the first ``n_components`` coordinates, so GEORGE's branching and settings are
    tested without compiling UMAP (the planted-stratum tests run the real one)."""

    made: list = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        _RecordingUMAP.made.append(kwargs)

    def fit_transform(self, x):
        return np.asarray(x)[:, : self.kwargs["n_components"]]

    def transform(self, x):
        return self.fit_transform(x)


def test_george_uses_pca_for_small_classes_and_umap_otherwise(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=_RecordingUMAP))
    _RecordingUMAP.made = []
    small = make_planted(40, seed=5, split="val").problem  # about 13 per class
    m = get_method("george", min_umap_samples=30).fit(small)
    assert all(type(r).__name__ == "Projection" for r in m.reducers_.values()) and _RecordingUMAP.made == []
    big = make_planted(66, n_classes=2, seed=5, split="val").problem  # 33 per class
    m = get_method("george", min_umap_samples=30, n_neighbors=10, random_state=3).fit(big)
    assert set(m.reducers_) == {0, 1} and all(isinstance(r, _RecordingUMAP) for r in m.reducers_.values())
    made = list(_RecordingUMAP.made)
    assert len(made) == 2 and all(k["n_components"] == 2 and k["n_neighbors"] == 10 and k["min_dist"] == 0.0
                                  and k["random_state"] == k["transform_seed"] for k in made)
    assert made[0]["random_state"] != made[1]["random_state"]  # keyed per class
    again = get_method("george", min_umap_samples=30, n_neighbors=10, random_state=3).fit(big)
    assert [r.kwargs["random_state"] for r in again.reducers_.values()] == [k["random_state"] for k in made]
    assert m.predict_proba(big).shape == (big.n, m.n_slices)


def test_pca_and_ranks_helpers():
    x = np.random.default_rng(1).normal(size=(30, 5)) * [5, 1, 1, 1, 0.1]
    proj = fit_pca(x, 2, whiten="per_dim")
    z = proj(x)
    assert z.shape == (30, 2) and np.allclose(z.std(0, ddof=1), 1.0)
    assert np.allclose(fit_pca(-x + 0, 2).components, fit_pca(x, 2).components)  # sign fixed
    assert within_rank(np.array([3.0, 1.0, 3.0])).tolist() == [2.5 / 3, 1 / 3, 2.5 / 3]
