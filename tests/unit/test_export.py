"""Export to Hugging Face Parquet + dataset card + Croissant, on tiny synthetic sources (no real data).

The sources are :func:`tests.conftest.synthetic_source` (in-memory, for real flags so class names
and licences come from ``medmnist.INFO``): RGB bloodmnist, grey pneumoniamnist and 3-D adrenalmnist3d.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from medstrata import BUILDER_VERSION
from medstrata.data.source import SPLITS
from medstrata.errors import MedStrataError
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import parse_overrides
from medstrata.tasks.store import load_task, save_task
from tests.conftest import synthetic_source

SPECS = {
    "rgb": (["dataset=bloodmnist", "stratum=rare_subclass,spurious_marker", "stratum.rare_subclass.p=0.1"], (400, 120, 200)),
    "grey": (["dataset=pneumoniamnist", "stratum=label_noise", "stratum.r=0.3"], (400, 120, 200)),
    "3d": (["dataset=adrenalmnist3d", "stratum=spurious_marker"], (60, 20, 40)),
}


def make_task(overrides: list[str], n: tuple[int, int, int]) -> str:
    spec = parse_overrides(overrides)
    task = build_task(spec, synthetic_source(spec.dataset, n=n))
    save_task(task)
    return task.task_id


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    """A MEDSTRATA_HOME shared by the module-scoped fixtures below."""
    home = tmp_path_factory.mktemp("export_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSTRATA_HOME", str(home))
        yield home


@pytest.fixture(autouse=True)
def _use_module_home(module_home, _isolated_home, monkeypatch):
    """Runs after the conftest's per-test home, so that the module's built tasks are found."""
    monkeypatch.setenv("MEDSTRATA_HOME", str(module_home))


@pytest.fixture(scope="module")
def tasks(module_home):
    """Three synthetic tasks (RGB with two strata, grey with label noise, 3-D), built once."""
    return {name: make_task(ov, n) for name, (ov, n) in SPECS.items()}, module_home


@pytest.fixture(scope="module")
def exported(tasks, tmp_path_factory):
    from medstrata.tasks.export import export_task

    ids, home = tasks
    out = tmp_path_factory.mktemp("exports")
    return {name: Path(export_task(tid, str(out / name)).splitlines()[-1]) for name, tid in ids.items()}


@pytest.fixture
def offline_hf(tmp_path, monkeypatch):
    import datasets

    for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(var, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True, raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True, raising=False)
    return tmp_path / "hf" / "datasets"


def load_parquet(folder: Path, cache: Path):
    import datasets

    files = {s: str(folder / "data" / f"{s}.parquet") for s in SPLITS}
    return datasets.load_dataset("parquet", data_files=files, cache_dir=str(cache))


def front_matter(readme: Path) -> dict:
    text = readme.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_export_writes_expected_files_and_summary(tasks, exported):
    ids, _ = tasks
    for name, folder in exported.items():
        assert sorted(p.name for p in folder.iterdir()) == ["README.md", "croissant.json", "data"]
        assert sorted(p.name for p in (folder / "data").iterdir()) == ["test.parquet", "train.parquet", "val.parquet"]
    from medstrata.tasks.export import export_task

    lines = export_task(ids["grey"], str(exported["grey"])).splitlines()
    task = load_task(ids["grey"])
    assert ids["grey"] in lines[0] and "cc-by-4.0" in lines[0]
    for split in SPLITS:
        assert any(ln.strip().startswith(f"data/{split}.parquet: {len(task.split_index(split))} rows") for ln in lines)
    assert lines[-1] == str(exported["grey"])


@pytest.mark.parametrize("name", ["rgb", "grey", "3d"])
def test_parquet_round_trip(tasks, exported, offline_hf, name):
    from datasets import Array3D, ClassLabel, Image

    ids, _ = tasks
    task = load_task(ids[name])
    ds = load_parquet(exported[name], offline_hf)
    feats = ds["train"].features
    assert isinstance(feats["image"], Array3D if name == "3d" else Image)
    assert isinstance(feats["label"], ClassLabel) and feats["label"].names == task.class_names
    assert feats["clean_label"].names == task.class_names
    for col in task.stratum_columns():
        assert isinstance(feats[col], ClassLabel) and feats[col].names[0] == "non-member"
    for split in SPLITS:
        assert ds[split].num_rows == len(task.split_index(split))
        assert ds[split]["sample_id"] == task.manifest["sample_id"].to_numpy()[task.split_index(split)].tolist()
    pos = {s: i for i, s in enumerate(task.manifest["sample_id"])}
    for split in SPLITS:
        for row in ds[split].select(range(3)):
            i = pos[row["sample_id"]]
            np.testing.assert_array_equal(np.asarray(row["image"], dtype=np.uint8), task.images[i])
            for col in ["label", "clean_label", *task.stratum_columns()]:
                assert row[col] == int(task.manifest[col].iat[i])


def test_grey_and_rgb_png_modes(exported, offline_hf):
    assert load_parquet(exported["grey"], offline_hf)["test"][0]["image"].mode == "L"
    assert load_parquet(exported["rgb"], offline_hf)["test"][0]["image"].mode == "RGB"


def test_load_folder_uses_card_configs(exported, offline_hf):
    import datasets

    ds = datasets.load_dataset(str(exported["rgb"]), cache_dir=str(offline_hf))
    assert set(ds) == set(SPLITS)
    assert ds["val"].features == load_parquet(exported["rgb"], offline_hf)["val"].features


def test_card_front_matter(tasks, exported):
    ids, _ = tasks
    task = load_task(ids["rgb"])
    meta = front_matter(exported["rgb"] / "README.md")
    assert meta["license"] == "cc-by-4.0"
    assert meta["task_categories"] == ["image-classification"]
    assert ids["rgb"] in meta["pretty_name"]
    files = {d["split"]: d["path"] for d in meta["configs"][0]["data_files"]}
    assert files == {s: f"data/{s}.parquet" for s in SPLITS}
    names = [f["name"] for f in meta["dataset_info"]["features"]]
    assert names[:3] == ["sample_id", "image", "label"] and "stratum_spurious_marker" in names
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == {
        s: len(task.split_index(s)) for s in SPLITS}


def test_card_body_has_provenance_strata_counts_and_citation(tasks, exported):
    ids, _ = tasks
    task = load_task(ids["rgb"])
    text = (exported["rgb"] / "README.md").read_text()
    src = task.info["source"]
    for needle in (src["md5"], src["sha256"], f"task builder version {BUILDER_VERSION}", "CC BY 4.0",
                   f"@misc{{medstrata_{ids['rgb']}", "@article{medmnistv2", "monocyte"):
        assert needle in text
    n_members = int((task.manifest["stratum_rare_subclass"].to_numpy()[task.split_index("test")] == 1).sum())
    assert f"| 1 | {task.info['strata'][0]['names']['1']} |" in text
    assert f"| {n_members} |" in text


def test_rebuild_command_reproduces_task_id(tasks):
    from medstrata.tasks.croissant import rebuild_command

    ids, _ = tasks
    for tid in ids.values():
        task = load_task(tid)
        args = rebuild_command(task).split()[2:]
        assert parse_overrides(args).task_id(task.info["source"]["sha256"]) == tid


def _croissant_records(jsonld: Path, record_set: str) -> list[dict]:
    """Records read by mlcroissant in a fresh interpreter that has not imported ``datasets``.

    Needed for 3-D exports: once ``datasets`` is imported, pyarrow maps the volume column to HF's
    Array3D extension type, whose pandas dtype breaks pandas 3's row-wise ``apply`` inside
    mlcroissant (AttributeError: 'PandasArrayExtensionDtype' object has no attribute 'v').
    """
    code = (
        "import json, sys, mlcroissant as mlc\n"
        "ds = mlc.Dataset(jsonld=sys.argv[1])\n"
        "rows = [{k: v.decode() if isinstance(v, bytes) else v for k, v in r.items()} for r in ds.records(sys.argv[2])]\n"
        "assert 'datasets' not in sys.modules\n"
        "print(json.dumps(rows))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(jsonld), record_set], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["rgb", "grey", "3d"])
def test_croissant_loads_with_mlcroissant(tasks, exported, name):
    mlc = pytest.importorskip("mlcroissant")
    ids, _ = tasks
    jsonld = exported[name] / "croissant.json"
    ds = mlc.Dataset(jsonld=str(jsonld))
    assert not ds.metadata.issues.errors
    # the only remaining remark: datePublished, left out on purpose (determinism)
    assert all("datePublished" in w for w in ds.metadata.issues.warnings)
    task = load_task(ids[name])
    val = task.split_index("val")
    if name == "3d":
        records = _croissant_records(jsonld, "val")
    else:  # reading in process also checks the sha256 of the Parquet file and decodes the PNG
        raw = list(ds.records("val"))
        np.testing.assert_array_equal(np.asarray(raw[0]["val/image"]), task.images[val[0]])
        records = [{k: v.decode() if isinstance(v, bytes) else v for k, v in r.items()} for r in raw]
    assert [r["val/sample_id"] for r in records] == task.manifest["sample_id"].to_numpy()[val].tolist()
    assert [r["val/label"] for r in records] == task.manifest["label"].to_numpy()[val].tolist()
    for col in task.stratum_columns():
        assert [r[f"val/{col}"] for r in records] == task.manifest[col].to_numpy()[val].tolist()


def test_croissant_content(tasks, exported):
    ids, _ = tasks
    meta = json.loads((exported["rgb"] / "croissant.json").read_text())
    assert meta["@type"] == "sc:Dataset" and meta["conformsTo"] == "http://mlcommons.org/croissant/1.0"
    assert meta["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert ids["rgb"] in meta["citeAs"] and ids["rgb"] in meta["url"]
    for fo in meta["distribution"]:
        assert fo["@type"] == "cr:FileObject" and fo["encodingFormat"] == "application/x-parquet"
        assert fo["sha256"] == hashlib.sha256((exported["rgb"] / fo["contentUrl"]).read_bytes()).hexdigest()
    test_rs = next(rs for rs in meta["recordSet"] if rs["@id"] == "test")
    cols = {f["name"]: f["source"]["extract"]["column"] for f in test_rs["field"]}
    assert {"sample_id", "label", "split", "stratum_rare_subclass", "stratum_spurious_marker"} <= set(cols)
    assert all(k == v for k, v in cols.items())
    assert all(f["source"]["fileObject"]["@id"] == "test-parquet" for f in test_rs["field"])


def test_export_is_deterministic(tasks, exported, tmp_path):
    from medstrata.tasks.export import export_task

    ids, _ = tasks
    again = Path(export_task(ids["grey"], str(tmp_path / "again")).splitlines()[-1])
    for rel in ("README.md", "croissant.json", *(f"data/{s}.parquet" for s in SPLITS)):
        assert (again / rel).read_bytes() == (exported["grey"] / rel).read_bytes(), rel


def test_export_replaces_earlier_export_but_refuses_other_folders(tasks, tmp_path):
    from medstrata.tasks.export import export_task

    ids, _ = tasks
    out = tmp_path / "x"
    export_task(ids["3d"], str(out))
    (out / "data" / "stale.parquet").write_bytes(b"old")
    export_task(ids["3d"], str(out))
    assert not (out / "data" / "stale.parquet").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(MedStrataError, match="not a MedStrata export"):
        export_task(ids["3d"], str(other))
    assert (other / "notes.txt").read_text() == "keep me"


def test_default_export_folder_is_in_task_folder(tasks):
    from medstrata.tasks.export import export_task

    ids, home = tasks
    out = export_task(ids["3d"], None).splitlines()[-1]
    assert Path(out) == home / "tasks" / ids["3d"] / "export"


@pytest.mark.parametrize("flag,hf,url", [
    ("bloodmnist", "cc-by-4.0", "https://creativecommons.org/licenses/by/4.0/"),
    ("dermamnist", "cc-by-nc-4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
])
def test_licence_mapping(flag, hf, url):
    from medstrata.tasks.croissant import licence_id, licence_url

    assert licence_id(flag) == hf and licence_url(flag) == url


def test_stratum_names_fall_back_when_not_contiguous():
    from medstrata.tasks.export import stratum_names

    assert stratum_names({"names": {"1": "a", "2": "b"}}) == ["non-member", "a", "b"]
    assert stratum_names({"names": {"2": "b"}}) is None
    assert stratum_names({"names": {"1": "non-member"}}) is None


def test_dermamnist_export_inherits_non_commercial_licence(tmp_path):
    from medstrata.tasks.export import export_task

    tid = make_task(["dataset=dermamnist", "stratum=none"], (70, 21, 35))
    folder = Path(export_task(tid, str(tmp_path / "derma")).splitlines()[-1])
    assert front_matter(folder / "README.md")["license"] == "cc-by-nc-4.0"
    assert "CC BY-NC 4.0" in (folder / "README.md").read_text()
    assert json.loads((folder / "croissant.json").read_text())["license"] == "https://creativecommons.org/licenses/by-nc/4.0/"
