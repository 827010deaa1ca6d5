"""``medstrata show`` (montage) and ``medstrata list`` (datasets + stratum kinds), without real data."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from medstrata.data import info as minfo
from medstrata.strata import get_injector, list_strata
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import parse_overrides
from medstrata.tasks.store import load_task, save_task
from tests.conftest import synthetic_source


def built(overrides: list[str], n=(400, 120, 200)):
    spec = parse_overrides(overrides)
    task = build_task(spec, synthetic_source(spec.dataset, n=n))
    save_task(task)
    return load_task(task.task_id)


def marker_at(task, row: int) -> bool:
    """Whether the sample's tag is the spurious one (every image carries a tag; see spurious_marker)."""
    import json

    return json.loads(task.manifest["params_spurious_marker"].iloc[row])["marker"] == 1


# ------------------------------------------------------------------ show


@pytest.mark.parametrize("flag,kind", [("bloodmnist", "2d_rgb"), ("pneumoniamnist", "2d_grey"), ("adrenalmnist3d", "3d")])
def test_montage_shows_marker_on_members_only(flag, kind):
    from medstrata.tasks.show import image_tile, render_montage, stratum_groups

    n = (60, 20, 40) if kind == "3d" else (400, 120, 200)
    task = built([f"dataset={flag}", "stratum=spurious_marker"], n)
    groups = stratum_groups(task, 4)
    assert len(groups) == 2  # sub-strata 1 (positive without marker) and 2 (negative with marker)
    canvas, lay = render_montage(task, groups, 4)
    png = np.asarray(canvas)
    assert png.shape == (lay.height, lay.width, 3)
    for g, has_marker in ((0, False), (1, True)):  # sub-stratum 2 carries the marker; its non-members do not
        members, others = groups[g].members, groups[g].others
        assert len(members) == len(others) == 4
        assert (task.manifest["clean_label"].to_numpy()[members] == task.manifest["clean_label"].to_numpy()[others]).all()
        assert all(marker_at(task, int(r)) == has_marker for r in members)
        assert all(marker_at(task, int(r)) != has_marker for r in others)
        for row, rows in ((0, members), (1, others)):
            x, y = lay.origin(g, row, 0)
            tile = image_tile(task.images[rows[0]], kind, lay.scale)
            np.testing.assert_array_equal(png[y : y + lay.tile_h, x : x + lay.tile_w], tile)


def test_members_prefer_test_split_and_are_deterministic():
    from medstrata.tasks.show import stratum_groups

    task = built(["dataset=bloodmnist", "stratum=rare_subclass", "stratum.p=0.1"])
    a, b = stratum_groups(task, 6), stratum_groups(task, 6)
    assert [g.members.tolist() for g in a] == [g.members.tolist() for g in b]
    m = task.manifest
    members = a[0].members
    assert (m["split"].to_numpy()[members] == "test").all()
    assert (m["stratum_rare_subclass"].to_numpy()[members] == 1).all()
    assert (m["source_label"].to_numpy()[members] == 5).all()
    assert (m["stratum_rare_subclass"].to_numpy()[a[0].others] == 0).all()
    # smallest SHA-256 of the sample id first, among test members
    test_members = np.flatnonzero((m["stratum_rare_subclass"].to_numpy() == 1) & (m["split"].to_numpy() == "test"))
    by_hash = sorted(test_members.tolist(), key=lambda i: hashlib.sha256(m["sample_id"].iat[i].encode()).digest())
    assert members.tolist() == by_hash[:6]


def test_label_noise_shows_flipped_train_members():
    from medstrata.tasks.show import _caption, stratum_groups

    task = built(["dataset=pneumoniamnist", "stratum=label_noise", "stratum.r=0.5"])
    g = stratum_groups(task, 3)[0]
    m = task.manifest
    assert (m["label"].to_numpy()[g.members] != m["clean_label"].to_numpy()[g.members]).all()
    assert set(m["split"].to_numpy()[g.members]) <= {"train", "val"}
    assert (m["split"].to_numpy()[g.others] == m["split"].to_numpy()[g.members]).all()  # same split mix
    assert "!" in _caption(task, int(g.members[0]))[1]


def test_image_tile_upscales_nearest_and_shows_middle_slice_and_projection():
    from medstrata.tasks.show import image_tile

    grey = np.arange(4, dtype=np.uint8).reshape(2, 2)
    t = image_tile(grey, "2d_grey", 3)
    assert t.shape == (6, 6, 3) and (t[:3, :3] == 0).all() and (t[3:, 3:] == 3).all()
    vol = np.zeros((5, 2, 2), dtype=np.uint8)
    vol[2, 0, 0], vol[4, 1, 1] = 100, 200
    t3 = image_tile(vol, "3d", 1)
    assert t3.shape == (2, 5, 3)
    assert t3[0, 0, 0] == 100 and t3[1, 1, 0] == 0  # middle slice (index 2)
    assert t3[0, 3, 0] == 100 and t3[1, 4, 0] == 200  # max projection after a 1-px separator


def test_show_task_writes_png_to_task_folder_by_default(tmp_path):
    from medstrata.tasks.show import show_task

    task = built(["dataset=bloodmnist", "stratum=rare_subclass,spurious_marker", "stratum.rare_subclass.p=0.1"])
    path = show_task(task.task_id, None, per_group=3)
    assert path == str(task.folder / "montage.png")
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.width >= 3 * 112
    out = show_task(task.task_id, str(tmp_path / "sub" / "m.png"), per_group=2)
    assert (tmp_path / "sub" / "m.png").is_file() and out.endswith("m.png")
    with pytest.raises(ValueError):
        show_task(task.task_id, None, per_group=0)


def test_show_task_without_strata_shows_classes():
    from medstrata.tasks.show import stratum_groups

    task = built(["dataset=pneumoniamnist", "stratum=none"])
    groups = stratum_groups(task, 2)
    assert len(groups) == 2
    for c, g in enumerate(groups):
        assert (task.manifest["clean_label"].to_numpy()[g.members] == c).all()


# ------------------------------------------------------------------ list


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """Data root with a 'good' bloodmnist (its MD5 declared official), a corrupt pneumoniamnist
    and a 64-px bloodmnist; everything else missing."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "bloodmnist.npz").write_bytes(b"good bytes")
    (root / "bloodmnist_64.npz").write_bytes(b"wrong 64")
    (root / "pneumoniamnist.npz").write_bytes(b"corrupt")
    real = minfo.url_and_md5
    good = hashlib.md5(b"good bytes").hexdigest()  # noqa: S324

    def fake(flag: str, size: int):
        return (real(flag, size)[0], good) if (flag, size) == ("bloodmnist", 28) else real(flag, size)

    monkeypatch.setattr(minfo, "url_and_md5", fake)
    monkeypatch.setenv("MEDSTRATA_DATA_ROOT", str(root))
    return root


def _row(text: str, flag: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.split() and ln.split()[0] == flag)
    return line.split()


def test_listing_checksum_status(fake_root):
    from medstrata.tasks.listing import render_listing

    text = render_listing(verify=True)
    assert len(minfo.flags()) == 18
    for flag in minfo.flags():
        _row(text, flag)  # every flag has a row
    blood = _row(text, "bloodmnist")
    assert "28,64" in blood and "ok," in blood and "MISMATCH" in blood
    assert _row(text, "pneumoniamnist")[-1] == "MISMATCH"
    assert _row(text, "dermamnist")[-1] == "missing"
    assert "2 of 18 flags found locally" in text


def test_listing_without_verification_only_checks_presence(fake_root):
    from medstrata.tasks.listing import render_listing

    text = render_listing(verify=False)
    assert _row(text, "pneumoniamnist")[-1] == "present"
    assert "MISMATCH" not in text and "not verified" in text


def test_listing_describes_every_stratum_parameter(fake_root):
    from medstrata.tasks.listing import dataset_dependent, render_listing

    text = render_listing(verify=False)
    for kind in list_strata():
        assert f"\n{kind}: " in text
        for name, p in get_injector(kind).params.items():
            assert any(ln.split()[:1] == [name] and p.doc in ln for ln in text.splitlines()), (kind, name)
    assert dataset_dependent("rare_subclass")["subclass"]["bloodmnist"] == 5
    assert "bloodmnist -> 5" in text
    assert "{P, R, d, A, H}" in text and "[0.005, 0.5]" in text
