"""export / show / list on the official MedMNIST files, through the CLI (skipped when files are absent)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medstrata.data import info as minfo
from medstrata.data.source import SPLITS
from medstrata.tasks.store import load_task
from tests.conftest import real_file

pytestmark = pytest.mark.realdata


def _cli(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``medstrata`` in a fresh process with this test's environment (home, data root)."""
    out = subprocess.run([sys.executable, "-m", "medstrata.cli", *args], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _build(*overrides: str) -> str:
    return _cli(["build", *overrides]).stdout.strip().splitlines()[-1]


@pytest.fixture
def offline_hf(tmp_path, monkeypatch):
    import datasets

    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    return tmp_path / "hf" / "datasets"


def _check_round_trip(task_id: str, folder: Path, cache: Path, image_type: type) -> None:
    import datasets

    task = load_task(task_id)
    ds = datasets.load_dataset("parquet", data_files={s: str(folder / "data" / f"{s}.parquet") for s in SPLITS},
                               cache_dir=str(cache))
    assert isinstance(ds["test"].features["image"], image_type)
    assert isinstance(ds["test"].features["label"], datasets.ClassLabel)
    pos = {s: i for i, s in enumerate(task.manifest["sample_id"])}
    for split in SPLITS:
        assert ds[split].num_rows == int((task.manifest["split"] == split).sum()) == task.info["counts"][split]
        picked = ds[split].select([0, ds[split].num_rows // 2, ds[split].num_rows - 1])
        for row in picked:
            i = pos[row["sample_id"]]
            np.testing.assert_array_equal(np.asarray(row["image"], dtype=np.uint8), task.images[i])
            for col in ["label", "clean_label", *task.stratum_columns()]:
                assert row[col] == int(task.manifest[col].iat[i])


def test_bloodmnist_export_round_trip_via_cli(offline_hf):
    import datasets

    mlc = pytest.importorskip("mlcroissant")
    real_file("bloodmnist")
    tid = _build("dataset=bloodmnist", "stratum=rare_subclass,spurious_marker", "seed=0")
    out = _cli(["export", tid]).stdout.strip().splitlines()
    folder = Path(out[-1])
    assert folder == load_task(tid).folder / "export" and "licence cc-by-4.0" in out[0]
    _check_round_trip(tid, folder, offline_hf, datasets.Image)
    features = datasets.load_dataset("parquet", data_files=str(folder / "data" / "val.parquet"), cache_dir=str(offline_hf))["train"].features
    assert features["stratum_rare_subclass"].names[1].startswith("rare subclass 5 (monocyte)")
    meta = mlc.Dataset(jsonld=str(folder / "croissant.json"))
    assert not meta.metadata.issues.errors
    test_ids = [r["test/sample_id"].decode() for r in meta.records("test")]
    task = load_task(tid)
    assert test_ids == task.manifest["sample_id"][task.manifest["split"] == "test"].tolist()
    text = (folder / "README.md").read_text()
    assert task.info["source"]["sha256"] == hashlib.sha256(real_file("bloodmnist").read_bytes()).hexdigest()
    assert task.info["source"]["sha256"] in text and "| 1 | rare subclass 5 (monocyte) at p=0.05 | 188 | 27 | 284 |" in text


def test_adrenal3d_export_round_trip_and_montage(offline_hf, tmp_path):
    import datasets

    from medstrata.data.source import load_source
    from medstrata.tasks.build import build_task
    from medstrata.tasks.export import export_task
    from medstrata.tasks.show import show_task, stratum_groups
    from medstrata.tasks.spec import parse_overrides
    from medstrata.tasks.store import save_task

    real_file("adrenalmnist3d")
    built = build_task(parse_overrides(["dataset=adrenalmnist3d", "stratum=spurious_marker"]), load_source("adrenalmnist3d"))
    save_task(built)
    tid = built.task_id
    folder = Path(export_task(tid, str(tmp_path / "export")).splitlines()[-1])
    _check_round_trip(tid, folder, offline_hf, datasets.Array3D)
    task = load_task(tid)
    assert Path(show_task(tid, None, per_group=4)).is_file()
    members = stratum_groups(task, 4)[1].members  # "not hyperplasia with marker"
    tags = [json.loads(task.manifest["params_spurious_marker"].iloc[r]) for r in members]
    assert len(members) == 4 and all(t["marker"] == 1 and t["glyph"] == "P" for t in tags)


def test_pneumonia_montage_shows_flips_and_markers():
    from medstrata.tasks.show import stratum_groups

    real_file("pneumoniamnist")
    tid = _build("dataset=pneumoniamnist", "stratum=label_noise,spurious_marker", "seed=0")
    png = _cli(["show", tid]).stdout.strip().splitlines()[-1]
    assert Path(png) == load_task(tid).folder / "montage.png"
    task = load_task(tid)
    noise, _, with_marker = stratum_groups(task, 6)
    m = task.manifest
    assert (m["label"].to_numpy()[noise.members] != m["clean_label"].to_numpy()[noise.members]).all()
    tag = [json.loads(p)["glyph"] for p in m["params_spurious_marker"]]
    assert all(tag[r] == "P" for r in with_marker.members)  # the spurious tag; others carry the distractor
    assert not any(tag[r] == "P" for r in with_marker.others)


def test_list_reports_local_files_ok():
    path = real_file("bloodmnist")
    text = _cli(["list"]).stdout
    rows = {ln.split()[0]: ln.split() for ln in text.splitlines() if ln.split() and ln.split()[0] in minfo.flags()}
    assert len(rows) == 18
    assert rows["bloodmnist"][-1] == "ok" and "bloodmnist.npz" in rows["bloodmnist"]
    for flag, row in rows.items():
        assert row[-1] == ("ok" if (path.parent / f"{flag}.npz").is_file() else "missing"), flag
