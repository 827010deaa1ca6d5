"""Design promises of the issue-6 injectors on generated data: tags, detail swap, texture clusters."""

import json

import numpy as np
import pytest

from medstrata.strata.markers import GLYPHS, blend, glyph, tag_mask
from medstrata.strata import subtle_feature
from medstrata.strata.subtle_feature import match_histogram, swap_detail
from medstrata.strata.texture import kmeans, nearest, orientation_descriptor
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import resolve_spec


def test_tag_pair_has_equal_ink_and_blend_stays_in_range():
    assert GLYPHS["P"].sum() == GLYPHS["R"].sum() == GLYPHS["d"].sum()
    assert glyph("P", 10).shape == (10, 6) and not glyph("P", 10).flags.writeable
    with pytest.raises(ValueError, match="at least 5"):
        glyph("P", 4)
    with pytest.raises(ValueError, match="does not fit"):
        tag_mask((28, 28), "P", 12, 20, 0)
    img = np.random.default_rng(0).integers(30, 200, (28, 28)).astype(np.uint8)
    mask = tag_mask((28, 28), "R", 8, 0, 0)
    out = blend(img, mask, int(img.min()), 1.0, "2d_grey")
    assert (out[mask] == img.min()).all() and np.array_equal(out[~mask], img[~mask])
    assert out.min() == img.min() and out.max() == img.max()


def test_detail_swap_keeps_the_exact_histogram_and_changes_the_layout():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    d = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    out = swap_detail(x, d, 3.0)
    assert out.dtype == np.uint8 and out.shape == x.shape
    assert np.array_equal(np.sort(out.reshape(5, -1), axis=1), np.sort(x.reshape(5, -1), axis=1))
    assert not np.array_equal(out, x)
    assert np.array_equal(swap_detail(x, d, 3.0), out)  # deterministic
    # the detail now follows the donor: correlation with the donor beats correlation with the source
    c_d = np.corrcoef(out[0].ravel(), d[0].ravel())[0, 1]
    c_x = np.corrcoef(out[0].ravel(), x[0].ravel())[0, 1]
    assert c_d > c_x
    assert np.array_equal(match_histogram(x, x.astype(float)), x)


@pytest.mark.parametrize("kind,shape", [("2d_grey", (11, 28, 28)), ("2d_rgb", (7, 28, 28, 3)), ("3d", (5, 28, 28, 28))])
def test_detail_swap_in_chunks_on_threads_equals_one_batch(monkeypatch, kind, shape):
    """Build speed-up (session 6): chunks of a few images on two threads give the same bytes as one
    call over the whole batch, for every image kind, including a ragged last chunk."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, shape).astype(np.uint8)
    d = rng.integers(0, 256, shape).astype(np.uint8)
    if kind == "2d_rgb":
        whole = np.stack([swap_detail(x[..., c], d[..., c], 6.0, 0.5) for c in range(3)], axis=-1)
    else:
        whole = swap_detail(x, d, 6.0, 0.5)
    monkeypatch.setattr(subtle_feature, "_CHUNK", 2)
    assert np.array_equal(subtle_feature._swap_in_chunks(x, d, 6.0, 0.5, kind), whole)
    assert subtle_feature._swap_in_chunks(x[:0], d[:0], 6.0, 0.5, kind).shape == x[:0].shape


def test_orientation_descriptor_ignores_brightness_and_contrast():
    rng = np.random.default_rng(2)
    x = rng.integers(50, 140, (4, 28, 28)).astype(np.uint8)
    y = np.clip(x.astype(int) * 2 - 40, 0, 255).astype(np.uint8)  # affine, no clipping in range
    assert np.allclose(orientation_descriptor(x, "2d_grey"), orientation_descriptor(y, "2d_grey"), atol=1e-9)
    assert orientation_descriptor(rng.integers(0, 255, (2, 8, 16, 16)).astype(np.uint8), "3d").shape[0] == 2


def test_kmeans_is_keyed_and_finds_separated_blobs():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    c1, c2 = kmeans(x, 2, "k"), kmeans(x, 2, "k")
    assert np.array_equal(c1, c2)
    lab = nearest(x, c1)
    assert len(set(lab[:30])) == 1 and len(set(lab[30:])) == 1 and lab[0] != lab[-1]


def test_subtle_decoys_get_a_same_class_donor_and_stay_stratum_zero(make_source):
    source = make_source("pneumoniamnist")
    spec = resolve_spec("pneumoniamnist", 28, 0, None, [("subtle_feature", {})])
    m = build_task(spec, source).manifest.to_pandas()
    p = m.params_subtle_feature.map(json.loads)
    decoy = p.map(lambda d: d.get("decoy", False)).to_numpy()
    assert decoy.any() and (m.stratum_subtle_feature.to_numpy()[decoy] == 0).all()
    label = dict(zip(m.sample_id, m.clean_label))
    for d, lab in zip(p[decoy], m.clean_label[decoy]):
        assert label[d["donor"]] == lab
    member = m.stratum_subtle_feature.to_numpy() == 1
    for d, lab in zip(p[member], m.clean_label[member]):
        assert label[d["donor"]] != lab
    off = resolve_spec("pneumoniamnist", 28, 0, None, [("subtle_feature", {"decoys": False})])
    m2 = build_task(off, source).manifest.to_pandas()
    assert not m2.params_subtle_feature.str.contains("decoy").any()


def test_marker_strata_positive_keeps_only_the_positives_without_the_tag(make_source):
    """``strata=positive`` (an added-later knob): the stratum column holds only sub-stratum 1, the
    positives without the marker; the negatives with it are non-members. The default spec (and so
    every older task id) does not mention the knob, given or not."""
    source = make_source("pneumoniamnist")
    both = resolve_spec("pneumoniamnist", 28, 0, None, [("spurious_marker", {})])
    pos = resolve_spec("pneumoniamnist", 28, 0, None, [("spurious_marker", {"strata": "positive"})])
    explicit = resolve_spec("pneumoniamnist", 28, 0, None, [("spurious_marker", {"strata": "both"})])
    assert "strata" not in both.to_dict()["strata"][0]["params"]
    assert explicit.to_dict() == both.to_dict()
    assert pos.to_dict()["strata"][0]["params"]["strata"] == "positive"
    for spec, groups in ((both, {0, 1, 2}), (pos, {0, 1})):
        task = build_task(spec, source)
        m = task.manifest.to_pandas()
        s = m.stratum_spurious_marker.to_numpy()
        assert set(np.unique(s)) == groups
        marked = m.params_spurious_marker.map(lambda t: json.loads(t).get("marker", 0)).to_numpy() == 1
        positive = m.label.to_numpy() == 1
        assert np.array_equal(s == 1, positive & ~marked)
        assert np.array_equal(s == 2, ~positive & marked & (spec is both))
    with pytest.raises(Exception, match="strata"):
        resolve_spec("pneumoniamnist", 28, 0, None, [("spurious_marker", {"strata": "negative"})])


def test_subtle_train_fraction_makes_the_subgroup_rarer_in_train_only(make_source):
    """``train_fraction`` (an added-later knob): the subgroup is a ``train_fraction`` share of its
    class in train and a ``fraction`` share in val and test; the default spec (and so every older
    task id) does not mention the knob; a train share above ``fraction`` is refused."""
    from medstrata.errors import ImpossibleSpecError

    source = make_source("pneumoniamnist")
    base = {"cls": 0, "fraction": 0.5, "decoys": False}
    plain = resolve_spec("pneumoniamnist", 28, 0, None, [("subtle_feature", base)])
    rare = resolve_spec("pneumoniamnist", 28, 0, None, [("subtle_feature", {**base, "train_fraction": 0.1})])
    assert "train_fraction" not in plain.to_dict()["strata"][0]["params"]
    assert rare.to_dict()["strata"][0]["params"]["train_fraction"] == 0.1
    m0 = build_task(plain, source).manifest.to_pandas().set_index("sample_id")
    m1 = build_task(rare, source).manifest.to_pandas().set_index("sample_id")
    s0, s1 = m0.stratum_subtle_feature, m1.stratum_subtle_feature
    for split in ("train", "val", "test"):
        in_cls = (m0.split == split) & (m0.clean_label == 0)
        assert 0.3 < s0[in_cls].mean() < 0.7 and s0[m0.clean_label == 1].sum() == 0
        if split == "train":
            assert 0 < s1[in_cls].mean() < 0.2
        else:
            assert 0.3 < s1[in_cls].mean() < 0.7
    assert "0.1 in train" in build_task(rare, source).info["strata"][0]["names"]["1"]
    with pytest.raises(ImpossibleSpecError, match="exceeds fraction"):
        build_task(resolve_spec("pneumoniamnist", 28, 0, None,
                                [("subtle_feature", {**base, "train_fraction": 0.6})]), source)
