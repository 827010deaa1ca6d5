"""Model cache: hits without retraining, keys, and atomicity (crashes never leave a valid-looking entry)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medstrata.models.data import SplitArrays, toy_splits

torch = pytest.importorskip("torch")

from medstrata.models import cache, train  # noqa: E402

pytestmark = pytest.mark.slow  # every test trains or loads a net


SPEC = {"width": 8, "epochs": 2, "batch_size": 32, "min_steps": 0}


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEDSTRATA_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> list:
    """Counts calls of the training function the cache uses."""
    calls: list = []
    real = train.fit_reference

    def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache.train_mod, "fit_reference", wrapped)
    return calls


@pytest.fixture(scope="module")
def data() -> dict:
    return toy_splits(64, "2d_grey", seed=0)


def _get(data: dict, task: str = "t", seed: int = 0, spec: dict = SPEC) -> Path:
    return cache.get_or_train(task, data["train"], data["val"], 3, spec, seed, progress=False)


def test_second_call_hits_cache(home: Path, data: dict, counted: list) -> None:
    first = _get(data)
    stamp = (first / cache.DONE).stat().st_mtime_ns
    second = _get(data)
    assert first == second and len(counted) == 1
    assert (second / cache.DONE).stat().st_mtime_ns == stamp
    assert first.parent == home / "cache" / "models" and cache.is_valid(first)
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_key_changes_with_task_spec_seed_and_data(home: Path, data: dict, counted: list) -> None:
    base = _get(data)
    other_data = {**data, "train": SplitArrays(data["train"].sample_ids, data["train"].images,
                                               (data["train"].labels + 1) % 3)}
    dirs = {base, _get(data, task="u"), _get(data, seed=1), _get(data, spec={**SPEC, "epochs": 1}),
            _get(other_data)}
    assert len(dirs) == 5 and len(counted) == 5
    assert _get(data, spec={**SPEC, "arch": "small_cnn"}) == base  # explicit default = same resolved spec


def test_key_covers_every_recipe_setting_and_the_code_version(data: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stale weights are never reused: each recipe knob, and the training code's version, is in the key."""
    def key(spec: dict) -> str:
        return cache.model_key("t", data["train"], data["val"], 3, spec, 0)

    variants = [{}, {"min_steps": 100}, {"class_weight": "balanced"}, {"select": "best_val_auc"},
                {"select": "best_val_bal_acc"}, {"batch_size": 32}, {"lr": 1e-3}]
    assert len({key(v) for v in variants}) == len(variants)
    assert key({"min_steps": train.ARCH_DEFAULTS["small_cnn"]["min_steps"]}) == key({})
    before = key({})
    monkeypatch.setattr(cache, "CODE_VERSION", cache.CODE_VERSION + "x")
    assert key({}) != before


def test_loaded_model_matches_trained(home: Path, data: dict) -> None:
    model_dir = _get(data)
    model = cache.load_model(model_dir)
    again = train.train_reference(data["train"], data["val"], 3, SPEC, seed=0, progress=False)
    for (k, v), w in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(v, w), k
    assert json.loads((model_dir / "meta.json").read_text())["spec"]["width"] == 8


def test_missing_done_marker_is_retrained(home: Path, data: dict, counted: list) -> None:
    model_dir = _get(data)
    (model_dir / cache.DONE).unlink()  # as if the process died before the marker was written
    assert not cache.is_valid(model_dir)
    with pytest.raises(FileNotFoundError):
        cache.load_model(model_dir)
    assert _get(data) == model_dir and len(counted) == 2 and cache.is_valid(model_dir)


def test_corrupt_weights_are_retrained(home: Path, data: dict, counted: list) -> None:
    model_dir = _get(data)
    with open(model_dir / "weights.pt", "r+b") as fh:  # truncated copy, marker still present
        fh.truncate(100)
    assert not cache.is_valid(model_dir)
    _get(data)
    assert len(counted) == 2 and cache.is_valid(model_dir)


def test_partial_temp_dir_is_ignored(home: Path, data: dict, counted: list) -> None:
    key = cache.model_key("t", data["train"], data["val"], 3, SPEC, 0)
    crashed = cache.models_root() / f".{key}.tmp-crashed"
    crashed.mkdir(parents=True)
    (crashed / "weights.pt").write_bytes(b"half a file")
    model_dir = _get(data)
    assert model_dir.name == key and len(counted) == 1 and cache.is_valid(model_dir)
    assert not cache.is_valid(crashed)


def test_crash_during_store_leaves_no_entry(home: Path, data: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(cache, "_fsync_dir", boom)  # dies after the files are written, before the rename
    with pytest.raises(KeyboardInterrupt):
        _get(data)
    key = cache.model_key("t", data["train"], data["val"], 3, SPEC, 0)
    assert not (cache.models_root() / key).exists()
    assert not list(cache.models_root().iterdir())  # the temp dir was cleaned up too


def test_done_marker_must_name_its_dir(home: Path, data: dict) -> None:
    model_dir = _get(data)
    copy = model_dir.parent / ("0" * 64)
    shutil.copytree(model_dir, copy)
    assert not cache.is_valid(copy)
