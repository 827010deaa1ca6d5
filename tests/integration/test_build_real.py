"""Manifest invariants of default builds on the official MedMNIST files (skipped when absent)."""

from functools import lru_cache

import numpy as np
import pytest

from medstrata.data.source import load_source
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import resolve_spec
from medstrata.tasks.target import map_labels
from tests.conftest import real_file

pytestmark = pytest.mark.realdata

CASES = [("bloodmnist", k) for k in ("rare_subclass", "label_noise", "subtle_feature", "spurious_marker")]
CASES += [("pneumoniamnist", k) for k in ("label_noise", "subtle_feature", "spurious_marker")]
CASES += [(f, k) for f in ("adrenalmnist3d", "vesselmnist3d") for k in ("label_noise", "spurious_marker", "subtle_feature")]


@lru_cache(maxsize=None)
def _source(flag):
    real_file(flag)
    return load_source(flag)


@lru_cache(maxsize=None)
def _task(flag, kind, **params):
    spec = resolve_spec(flag, 28, 0, None, [(kind, dict(params))])
    return spec, build_task(spec, _source(flag))


def _frame(flag, kind):
    spec, task = _task(flag, kind)
    return spec, task, task.manifest.to_pandas()


@pytest.mark.parametrize("flag, kind", CASES)
def test_default_build_invariants(flag, kind):
    src = _source(flag)
    spec, task, m = _frame(flag, kind)
    assert m.sample_id.is_unique
    assert (m.split == m.source_split).all(), "a sample left its official split"
    official = np.concatenate([src.labels[s] for s in ("train", "val", "test")])
    offsets = {"train": 0, "val": len(src.labels["train"]), "test": len(src.labels["train"]) + len(src.labels["val"])}
    rows = m.source_split.map(offsets).to_numpy() + m.source_index.to_numpy()
    assert np.array_equal(m.clean_label.to_numpy(), map_labels(official[rows], spec.target))
    test = m[m.split == "test"]
    assert len(test) == len(src.labels["test"]), "test must keep every official test image"
    assert np.array_equal(test.label.to_numpy(), map_labels(src.labels["test"], spec.target))
    untouched = ~m[f"params_{kind}"].str.contains('"donor"|"glyph"', regex=True).to_numpy()
    orig = np.stack([src.images[s][i] for s, i in zip(m.source_split, m.source_index)])
    assert np.array_equal(task.images[untouched], orig[untouched])
    assert untouched.sum() < len(m) or kind in ("label_noise", "rare_subclass")


def test_rare_subclass_prevalence_within_one_sample():
    spec, task, m = _frame("bloodmnist", "rare_subclass")
    sub, p = spec.strata[0][1]["subclass"], spec.strata[0][1]["p"]
    sup = spec.target["mapping"][sub]
    for split in ("train", "val"):
        s = m[(m.split == split) & (m.clean_label == sup)]
        k = int((s.source_label == sub).sum())
        assert abs(k - p * len(s)) <= 1, (split, k, len(s))
    assert int(((m.split == "test") & (m.stratum_rare_subclass == 1)).sum()) >= 50


def test_rare_subclass_p_range_and_impossible():
    for p in (0.01, 0.2):
        spec, task = _task("bloodmnist", "rare_subclass", p=p)
        m = task.manifest.to_pandas()
        s = m[(m.split == "train") & (m.clean_label == 0)]
        assert abs((s.source_label == 5).sum() - p * len(s)) <= 1
    from medstrata.errors import ImpossibleSpecError

    # retinamnist val has 20 grade-3 samples: p=0.01 would keep round(0.2) = 0 grade-4 samples there.
    spec = resolve_spec("retinamnist", 28, 0, "superclass", [("rare_subclass", {"subclass": 4, "p": 0.01})])
    with pytest.raises(ImpossibleSpecError, match="smallest reachable p there is 0.0476"):
        build_task(spec, _source("retinamnist"))


@pytest.mark.parametrize("flag", ["bloodmnist", "pneumoniamnist"])
def test_label_noise_rate_inside_subgroup_only(flag):
    spec, task, m = _frame(flag, "label_noise")
    r = spec.strata[0][1]["r"]
    flipped = m.label != m.clean_label
    for split in ("train", "val"):
        s = m[m.split == split]
        members = s.stratum_label_noise == 1
        assert abs(flipped[s.index][members].sum() - r * members.sum()) <= 0.5 + 1e-9
        assert not flipped[s.index][~members].any()
    assert not flipped[m.split == "test"].any()


def _phi(a, b):
    return float(np.corrcoef(a.astype(float), b.astype(float))[0, 1])


@pytest.mark.parametrize("flag", ["bloodmnist", "pneumoniamnist", "adrenalmnist3d"])
def test_marker_correlation_train_and_test(flag):
    spec, task, m = _frame(flag, "spurious_marker")
    rho = spec.strata[0][1]["rho"]
    marker = m.params_spurious_marker.str.contains('"marker":1').to_numpy()
    y = (m.label == 1).to_numpy()
    for split in ("train", "val"):
        sel = (m.split == split).to_numpy()
        assert abs(_phi(marker[sel], y[sel]) - rho) < 0.02
    sel = (m.split == "test").to_numpy()
    assert abs(_phi(marker[sel], y[sel])) < 0.02
    assert ((m.split == "test") & (m.stratum_spurious_marker > 0)).sum() >= 50


def test_marker_impossible_correlation_names_the_limit():
    from medstrata.errors import ImpossibleSpecError

    with pytest.raises(ImpossibleSpecError, match="can be at most"):
        _task("pneumoniamnist", "spurious_marker", rho=0.95, marker_rate=0.1)


def test_combined_strata_build():
    spec = resolve_spec("bloodmnist", 28, 0, None, [("rare_subclass", {}), ("spurious_marker", {})])
    m = build_task(spec, _source("bloodmnist")).manifest.to_pandas()
    assert (m.stratum_rare_subclass == 1).any() and (m.stratum_spurious_marker > 0).any()
