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
CHECKS: list[tuple] = []


def _build(make_source, flag, kind, seed=0, source_seed=0):
    source = make_source(flag, seed=source_seed)
    spec = resolve_spec(flag, 28, seed, None, [(kind, {})])
    return source, spec, build_task(spec, source)


@pytest.mark.parametrize("image_kind", list(FLAGS))
@pytest.mark.parametrize("kind", list_strata())
def test_injector_conformance(kind, image_kind, make_source):
    flag = FLAGS[image_kind]
    if image_kind not in get_injector(kind).image_kinds:
        pytest.skip(f"{kind} is not defined for {image_kind}")
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
    touched = m[f"params_{kind}"].map(lambda s: "donor" in s or '"glyph"' in s).to_numpy()
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
    CHECKS.append((kind, image_kind))


def test_battery_count():
    expected = sum(1 for k in list_strata() for ik in FLAGS if ik in get_injector(k).image_kinds)
    assert len(CHECKS) == expected, f"only {len(CHECKS)} of {expected} injector checks ran"


def test_composition_keeps_one_column_per_stratum(make_source):
    source = make_source("bloodmnist")
    spec = resolve_spec("bloodmnist", 28, 0, None, [("rare_subclass", {"p": 0.1}), ("spurious_marker", {})])
    m = build_task(spec, source).manifest.to_pandas()
    assert {"stratum_rare_subclass", "stratum_spurious_marker"} <= set(m.columns)
    assert (m.stratum_rare_subclass > 0).any() and (m.stratum_spurious_marker > 0).any()


def test_order_of_source_rows_does_not_change_membership(make_source):
    """Keyed draws: the same sample gets the same fate whatever else is in the source."""
    source = make_source("pneumoniamnist")
    spec = resolve_spec("pneumoniamnist", 28, 0, None, [("spurious_marker", {})])
    full = build_task(spec, source).manifest.to_pandas().set_index("sample_id")
    assert full.stratum_spurious_marker.isin([0, 1, 2]).all()
