"""Outputs per split keyed by sample id, the encoder registry, and the Problem built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medstrata.models.data import SplitArrays, toy_splits
from medstrata.problem import Problem

torch = pytest.importorskip("torch")

from medstrata.models import cache, encoders, outputs  # noqa: E402

pytestmark = pytest.mark.slow  # the module fixture trains a net


SPEC = {"width": 8, "epochs": 5, "batch_size": 16, "lr": 0.01, "min_steps": 0}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    mp = pytest.MonkeyPatch()
    mp.setenv("MEDSTRATA_HOME", str(tmp_path_factory.mktemp("home")))
    data = toy_splits(200, "2d_grey", n_classes=3, seed=5)
    model_dir = outputs.reference_outputs("toy", data, 3, SPEC, seed=0, progress=False)
    yield model_dir, data
    mp.undo()


def test_problem_shapes_and_content(built: tuple) -> None:
    model_dir, data = built
    for split in ("train", "val", "test"):
        for enc, dim in (("penultimate", 32), ("pixel_pca", 64)):
            p = outputs.load_outputs(model_dir, split, enc)
            assert isinstance(p, Problem) and p.embedding_name == enc
            assert p.probs.shape == (200, 3) and p.losses.shape == (200,) and p.embeddings.shape == (200, dim)
            np.testing.assert_allclose(p.probs.sum(1), 1.0, atol=1e-9)
            np.testing.assert_array_equal(p.sample_ids, data[split].sample_ids)
            np.testing.assert_array_equal(p.labels, data[split].labels)
            np.testing.assert_allclose(p.losses, -np.log(p.probs[np.arange(200), p.labels]), rtol=1e-6)
    assert outputs.load_outputs(model_dir, "test").correct.mean() > 0.9


def test_outputs_follow_sample_ids_not_positions(built: tuple, tmp_path: Path, monkeypatch) -> None:
    model_dir, data = built
    order = np.random.default_rng(0).permutation(200)
    t = data["test"]
    shuffled = {**data, "test": SplitArrays(t.sample_ids[order], t.images[order], t.labels[order])}
    monkeypatch.setenv("MEDSTRATA_HOME", str(tmp_path))
    other = outputs.reference_outputs("toy", shuffled, 3, SPEC, seed=0, progress=False)
    a, b = outputs.load_outputs(model_dir, "test"), outputs.load_outputs(other, "test")
    pos = {s: i for i, s in enumerate(b.sample_ids)}
    idx = np.array([pos[s] for s in a.sample_ids])
    np.testing.assert_allclose(a.probs, b.probs[idx], atol=1e-5)
    np.testing.assert_allclose(a.embeddings, b.embeddings[idx], atol=1e-4)


def test_embedding_file_in_other_order_is_joined_by_id(built: tuple) -> None:
    model_dir, _ = built
    path = model_dir / "outputs" / "val.penultimate.npz"
    with np.load(path) as z:
        ids, emb, fp, tfp = z["sample_ids"], z["embeddings"], z["fingerprint"], z["train_fingerprint"]
    before = outputs.load_outputs(model_dir, "val")
    outputs._atomic_savez(path, sample_ids=ids[::-1], embeddings=emb[::-1], fingerprint=fp,
                          train_fingerprint=tfp)
    after = outputs.load_outputs(model_dir, "val")
    np.testing.assert_array_equal(after.embeddings, before.embeddings)
    with pytest.raises(ValueError, match="different sample ids"):
        outputs.join_by_id(ids, ids[:-1], emb[:-1])


def test_matching_outputs_are_reused_changed_split_is_rewritten(built: tuple) -> None:
    model_dir, data = built
    files = sorted((model_dir / "outputs").glob("*.npz"))
    stamps = {f: f.stat().st_mtime_ns for f in files}
    outputs.write_outputs(model_dir, data)
    assert all(f.stat().st_mtime_ns == stamps[f] for f in files)
    t = data["test"]
    fewer = {**data, "test": SplitArrays(t.sample_ids[:50], t.images[:50], t.labels[:50])}
    outputs.write_outputs(model_dir, fewer)
    assert outputs.load_outputs(model_dir, "test", "pixel_pca").n == 50
    assert (model_dir / "outputs" / "val.npz").stat().st_mtime_ns == stamps[model_dir / "outputs" / "val.npz"]
    outputs.write_outputs(model_dir, data)  # restore for the other tests


def test_pixel_pca_is_fit_on_train_only(built: tuple) -> None:
    model_dir, data = built
    enc = encoders.get_encoder("pixel_pca").fit(data["train"], None, model_dir.name)
    stored = outputs.load_outputs(model_dir, "test", "pixel_pca").embeddings
    np.testing.assert_allclose(enc.transform(data["test"], None), stored, atol=1e-4)
    on_test = encoders.get_encoder("pixel_pca").fit(data["test"], None, model_dir.name)
    assert not np.allclose(on_test.transform(data["test"], None), stored, atol=1e-2)


def test_encoder_registry(built: tuple) -> None:
    assert {"penultimate", "pixel_pca"} <= set(encoders.available_encoders())
    from medstrata.registry import RegistrationError, UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown encoder 'nope'; available: penultimate"):
        encoders.get_encoder("nope")
    with pytest.raises(RegistrationError, match="lower-case"):
        encoders.register_encoder("Bad Name")

    @encoders.register_encoder("mean_pixel_test")
    class MeanPixel:
        def fit(self, train, train_out, key):  # type: ignore[no-untyped-def]
            return self

        def transform(self, arrays, out):  # type: ignore[no-untyped-def]
            return arrays.images.reshape(arrays.n, -1).mean(1, keepdims=True)

    try:
        model_dir, data = built
        outputs.write_outputs(model_dir, data, ["mean_pixel_test"])
        p = outputs.load_outputs(model_dir, "val", "mean_pixel_test")
        np.testing.assert_allclose(p.embeddings[:, 0], data["val"].images.reshape(200, -1).mean(1), rtol=1e-6)
        with pytest.raises(RegistrationError, match="already taken"):
            encoders.register_encoder("mean_pixel_test")(type("Other", (), {"fit": len, "transform": len}))
    finally:
        encoders.REGISTRY.unregister("mean_pixel_test")


def test_write_outputs_needs_train_and_a_valid_model(built: tuple, tmp_path: Path) -> None:
    model_dir, data = built
    with pytest.raises(ValueError, match="train"):
        outputs.write_outputs(model_dir, {"test": data["test"]})
    with pytest.raises(FileNotFoundError):
        outputs.write_outputs(tmp_path, data)
    assert cache.is_valid(model_dir)
