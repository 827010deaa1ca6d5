"""The forward pass's batch (``eval_batch``) bounds its memory and does not change a single bit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from medstrata.models.data import toy_splits  # noqa: E402
from medstrata.models.nets import init_net  # noqa: E402
from medstrata.models.train import EVAL_VALUES, eval_batch, predict  # noqa: E402


def test_eval_batch_keeps_28px_images_at_512_and_bounds_larger_samples():
    assert eval_batch((28, 28)) == eval_batch((28, 28, 3)) == 512
    assert eval_batch((28, 28, 28)) == EVAL_VALUES // (28 ** 3) == 54
    assert eval_batch((64, 64, 64)) == 4 and eval_batch((224, 224, 224)) == 1
    for shape in [(28, 28, 28), (64, 64, 3), (128, 128), (64, 64, 64)]:
        assert eval_batch(shape) * int(np.prod(shape)) <= EVAL_VALUES


@pytest.mark.parametrize("kind,arch", [("3d", "small_cnn3d"), ("2d_rgb", "small_cnn"), ("2d_grey", "small_cnn")])
@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_do_not_depend_on_the_batch(kind, arch, threads):
    arrays = toy_splits(130 if kind == "3d" else 600, kind, n_classes=3, seed=1)["test"]
    model = init_net(arch, 3 if kind == "2d_rgb" else 1, 3, 8, seed=11)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        default = predict(model, arrays)
        for bs in (512, 64, 7):
            other = predict(model, arrays, batch_size=bs)
            assert all(np.array_equal(a, b) for a, b in zip(default, other)), (kind, threads, bs)
    finally:
        torch.set_num_threads(before)
    assert default[0].shape == (arrays.n, 3) and np.isfinite(default[1]).all()
