"""The shortcut statistic battery on generated images with known answers."""

import numpy as np
import pytest

from medstrata.validity.shortcuts import folded_auroc, image_statistics, pca_probe_auroc, shortcut_auroc


def _noise(n, shape, seed=0):
    return np.random.default_rng(seed).integers(40, 200, size=(n,) + shape).astype(np.uint8)


@pytest.mark.parametrize("shape", [(28, 28), (28, 28, 3), (8, 12, 12)])
def test_battery_shapes_and_known_values(shape):
    x = _noise(6, shape)
    x[0] = 0
    stats = image_statistics(x)
    assert len(stats) >= 20 * (4 if len(shape) == 3 and shape[-1] == 3 else 1)
    for name, v in stats.items():
        assert v.shape == (6,) and np.isfinite(v).all(), name
    assert stats["grey.max"][0] == 0 and stats["grey.frac_0"][0] == 1.0
    assert stats["grey.entropy"][0] == 0.0 and stats["grey.grad_energy"][0] == 0.0
    assert stats["grey.entropy"][1] > 6


def test_battery_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        image_statistics(np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        image_statistics(np.zeros((2, 28), dtype=np.uint8))


def test_folded_auroc_is_rank_auroc():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    s, y = rng.normal(size=200), rng.random(200) < 0.3
    auc = roc_auc_score(y, s)
    assert folded_auroc(s, y) == pytest.approx(max(auc, 1 - auc))
    assert folded_auroc(-s, y) == pytest.approx(max(auc, 1 - auc))


def test_white_corner_square_is_caught_and_noise_is_not():
    x = _noise(200, (28, 28))
    labels = np.arange(200) % 2
    member = (np.arange(200) // 2) % 2 == 0
    clean = shortcut_auroc(x, labels, member)
    assert clean["best_auroc"] < 0.75 and clean["n_checked_classes"] == 2
    x[member, 1:5, 1:5] = 255
    marked = shortcut_auroc(x, labels, member)
    assert marked["best_auroc"] == 1.0
    assert marked["per_statistic"]["grey.max"] == 1.0
    one = shortcut_auroc(x, labels == 1, member)
    assert one["n_checked_classes"] == 1 and one["best_auroc"] == 1.0


def test_shortcut_auroc_needs_both_groups():
    x = _noise(20, (28, 28))
    out = shortcut_auroc(x, np.zeros(20, int), np.zeros(20, bool))
    assert out["n_checked_classes"] == 0 and np.isnan(out["best_auroc"])
    with pytest.raises(ValueError, match="differ in length"):
        shortcut_auroc(x, np.zeros(19, int), np.zeros(20, bool))


@pytest.mark.slow  # cross-validated probes
def test_pca_probe_finds_a_fixed_pattern_but_not_noise():
    x = _noise(120, (28, 28))
    member = np.arange(120) % 3 == 0
    labels = np.zeros(120, int)
    assert pca_probe_auroc(x, labels, member)["best_auroc"] < 0.75
    x = x.astype(np.int16)
    x[member, 10:18, 10:18] += 40
    probe = pca_probe_auroc(np.clip(x, 0, 255).astype(np.uint8), labels, member)
    assert probe["best_auroc"] > 0.95
