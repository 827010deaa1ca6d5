"""SplitArrays validation, toy data, and the reference architectures (shapes, stem, seeded init)."""

from __future__ import annotations

import numpy as np
import pytest

from medstrata.models.data import SplitArrays, toy_splits

torch = pytest.importorskip("torch")

from medstrata.models.nets import build_net, images_to_tensor, init_net, normalise  # noqa: E402


def test_split_arrays_kinds_and_validation() -> None:
    ids = np.array(["a", "b"])
    assert SplitArrays(ids, np.zeros((2, 5, 5), np.uint8), np.array([0, 1])).kind == "2d_grey"
    assert SplitArrays(ids, np.zeros((2, 5, 5, 3), np.uint8), np.array([0, 1])).in_channels == 3
    assert SplitArrays(ids, np.zeros((2, 4, 5, 5), np.uint8), np.array([0, 1])).kind == "3d"
    with pytest.raises(ValueError, match="unique"):
        SplitArrays(np.array(["a", "a"]), np.zeros((2, 5, 5), np.uint8), np.array([0, 1]))
    with pytest.raises(ValueError, match="uint8"):
        SplitArrays(ids, np.zeros((2, 5, 5), np.float32), np.array([0, 1]))
    with pytest.raises(ValueError, match="n rows"):
        SplitArrays(ids, np.zeros((3, 5, 5), np.uint8), np.array([0, 1]))


def test_fingerprint_tracks_content() -> None:
    a = toy_splits(20, seed=0)["train"]
    b = toy_splits(20, seed=0)["train"]
    assert a.fingerprint() == b.fingerprint()
    relabelled = SplitArrays(a.sample_ids, a.images, (a.labels + 1) % 3)
    renamed = SplitArrays(np.array([s + "x" for s in a.sample_ids]), a.images, a.labels)
    assert len({a.fingerprint(), relabelled.fingerprint(), renamed.fingerprint()}) == 3


def test_toy_splits_shapes() -> None:
    for kind, shape in [("2d_grey", (28, 28)), ("2d_rgb", (28, 28, 3)), ("3d", (14, 14, 14))]:
        split = toy_splits(10, kind, size=shape[0])["val"]
        assert split.images.shape == (10, *shape) and split.kind == kind
        assert split.labels.dtype == np.int64 and split.sample_ids[0] == "toy-val-000000"


@pytest.mark.parametrize("arch,shape,in_ch,dim", [
    ("small_cnn", (4, 1, 28, 28), 1, 32), ("small_cnn", (4, 3, 28, 28), 3, 32),
    ("small_cnn3d", (4, 1, 14, 14, 14), 1, 32),
    pytest.param("resnet18", (2, 3, 28, 28), 3, 512, marks=pytest.mark.slow),  # ~4 s to build resnet18
])
def test_forward_and_penultimate_shapes(arch: str, shape: tuple, in_ch: int, dim: int) -> None:
    net = init_net(arch, in_ch, 5, 8, seed=1).eval()
    x = torch.zeros(shape)
    with torch.no_grad():
        assert net(x).shape == (shape[0], 5)
        assert net.penultimate(x).shape == (shape[0], dim)


def test_resnet18_has_28px_stem() -> None:
    net = build_net("resnet18", 1, 2, 0)
    conv1 = net.body.conv1
    assert (conv1.in_channels, conv1.kernel_size, conv1.stride) == (1, (3, 3), (1, 1))
    assert isinstance(net.body.maxpool, torch.nn.Identity)


def test_init_is_seeded_and_leaves_global_rng_alone() -> None:
    before = torch.random.get_rng_state()
    a, b, c = (init_net("small_cnn", 1, 3, 8, seed=s) for s in (7, 7, 8))
    assert torch.equal(torch.random.get_rng_state(), before)
    wa, wb, wc = (n.body[0].weight for n in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_images_to_tensor_layout_and_normalise() -> None:
    rgb = np.zeros((2, 28, 28, 3), np.uint8)
    rgb[..., 1] = 255
    t = images_to_tensor(rgb, "2d_rgb")
    assert t.shape == (2, 3, 28, 28) and int(t[0, 1].min()) == 255 and int(t[0, 0].max()) == 0
    assert images_to_tensor(np.zeros((2, 5, 6, 7), np.uint8), "3d").shape == (2, 1, 5, 6, 7)
    x = normalise(t)
    assert x.dtype == torch.float32 and float(x.min()) == -1.0 and float(x.max()) == 1.0


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        build_net("vgg", 1, 2, 8)
