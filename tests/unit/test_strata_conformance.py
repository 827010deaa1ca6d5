"""Registry-wide battery for stratum injectors, on tiny synthetic sources (grey, RGB, 3D).

Every registered kind runs through every check on every image kind its definition allows; the last
test asserts how many checks ran, so a silent skip cannot turn the battery green.
"""

import json

import numpy as np
import pytest

from medstrata.strata import get_injector, list_strata
from medstrata.strata.markers import tag_mask
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import resolve_spec

FLAGS = {"2d_grey": "organamnist", "2d_rgb": "bloodmnist", "3d": "organmnist3d"}
#: Every (kind, image kind) pair the registry allows: the battery is parametrized over exactly these,
#: so no case needs a runtime skip and none can be skipped silently.
PAIRS = [(k, ik) for k in list_strata() for ik in FLAGS if ik in get_injector(k).image_kinds]
#: Keys of ``params_<kind>`` that mark a sample whose pixels the injector rewrote.
PIXEL_KEYS = {"donor", "glyph"}


def _build(make_source, flag, kind, seed=0, source_seed=0):
    source = make_source(flag, seed=source_seed)
    spec = resolve_spec(flag, 28, seed, None, [(kind, {})])
    return source, spec, build_task(spec, source)


#: subtle_feature on volumes takes ~15 s (per-slice detail swaps): marked slow.
SLOW_PAIRS = {("subtle_feature", "3d")}


@pytest.mark.parametrize("kind,image_kind", [pytest.param(k, ik, marks=pytest.mark.slow) if (k, ik) in SLOW_PAIRS
                                             else (k, ik) for k, ik in PAIRS])
def test_injector_conformance(kind, image_kind, make_source):
    flag = FLAGS[image_kind]
    source, spec, task = _build(make_source, flag, kind)
    m = task.manifest.to_pandas()
    col = f"stratum_{kind}"
    # 1. members exist in train and test, ids are named
    names = {int(k) for k in task.info["strata"][0]["names"]}
    assert set(m[col].unique()) - {0} <= names and (m[col] > 0).any()
    assert (m.loc[m.split == "test", col] > 0).any()
    # 2. uint8 images, same shape as the source, one per manifest row, unique ids
    assert task.images.dtype == np.uint8 and task.images.shape[1:] == source.images["train"].shape[1:]
    assert len(task.images) == len(m) and m.sample_id.is_unique
    # 3. pixels of untouched samples are byte-identical to the source; a tag changes only its mask
    touched = m[f"params_{kind}"].map(lambda s: bool(PIXEL_KEYS & set(json.loads(s)))).to_numpy()
    orig = np.stack([source.images[s][i] for s, i in zip(m.source_split, m.source_index)])
    assert np.array_equal(task.images[~touched], orig[~touched])
    for row in np.flatnonzero(touched)[:50]:
        p = json.loads(m[f"params_{kind}"].iloc[row])
        if "glyph" in p:
            mask = tag_mask(orig.shape[2:4] if image_kind == "3d" else orig.shape[1:3], p["glyph"], p["height"], p["row"], p["col"])
            keep = ~mask if image_kind != "3d" else np.broadcast_to(~mask, orig.shape[1:])
            assert np.array_equal(task.images[row][keep], orig[row][keep])
            assert not np.array_equal(task.images[row], orig[row]) or p["opacity"] < 0.2
    # 4. test labels are clean and equal to the mapped official labels
    test = m[m.split == "test"]
    assert (test.label == test.clean_label).all()
    # 5. splits come only from their official split
    assert (m.split == m.source_split).all()
    # 6. determinism and seed sensitivity
    again = _build(make_source, flag, kind)[2]
    assert again.task_id == task.task_id and np.array_equal(again.images, task.images)
    assert again.manifest.equals(task.manifest)
    other = _build(make_source, flag, kind, seed=1)[2]
    assert other.task_id != task.task_id
    # 7. params column is valid JSON for every row
    assert all(isinstance(json.loads(s), dict) for s in m[f"params_{kind}"])


def test_battery_count():
    """Every registered kind is covered on at least one image kind, and 2-D grey is always allowed
    (a kind that declared no image kinds would drop out of the battery unnoticed). Self-contained:
    it passes or fails the same when run alone."""
    assert {k for k, _ in PAIRS} == set(list_strata())
    assert all("2d_grey" in get_injector(k).image_kinds for k in list_strata())


def test_composition_keeps_one_column_per_stratum(make_source):
    source = make_source("bloodmnist")
    spec = resolve_spec("bloodmnist", 28, 0, None, [("rare_subclass", {"p": 0.1}), ("spurious_marker", {})])
    m = build_task(spec, source).manifest.to_pandas()
    assert {"stratum_rare_subclass", "stratum_spurious_marker"} <= set(m.columns)
    assert (m.stratum_rare_subclass > 0).any() and (m.stratum_spurious_marker > 0).any()


KIND_FLAGS = {"spurious_marker": "pneumoniamnist", "label_noise": "bloodmnist", "subtle_feature": "bloodmnist",
              "rare_subclass": "bloodmnist"}


@pytest.mark.parametrize("kind", list_strata())
def test_other_rows_of_the_source_do_not_change_membership(kind, make_source):
    """Keyed draws: a train or test sample gets the same fate whatever else is in the source. Half of
    the val split is removed from the source; every train and test sample keeps its stratum id (the
    markers also keep every applied parameter)."""
    from dataclasses import replace

    flag = KIND_FLAGS.get(kind, "bloodmnist")
    source = make_source(flag)
    spec = resolve_spec(flag, 28, 0, None, [(kind, {})])
    images, labels = dict(source.images), dict(source.labels)
    images["val"], labels["val"] = images["val"][:60], labels["val"][:60]
    full = build_task(spec, source).manifest.to_pandas().set_index("sample_id")
    part = build_task(spec, replace(source, images=images, labels=labels)).manifest.to_pandas().set_index("sample_id")
    assert len(part) < len(full)
    ids = part.index[part.split.isin(["train", "test"])]
    assert len(ids) > 0 and ids.isin(full.index).all()
    col = f"stratum_{kind}"
    assert (full.loc[ids, col] > 0).any()
    assert full.loc[ids, col].equals(part.loc[ids, col])
    if kind == "spurious_marker":
        assert full.loc[ids, f"params_{kind}"].equals(part.loc[ids, f"params_{kind}"])
