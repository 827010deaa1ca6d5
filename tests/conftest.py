"""Shared fixtures: real-data gating, isolated MEDSTRATA_HOME, and tiny synthetic sources."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

from medstrata.data.source import Source

REAL_ROOT = Path(os.environ.get("MEDSTRATA_DATA_ROOT", Path(__file__).resolve().parents[2] / "shared/data/medmnist"))


def real_file(flag: str) -> Path:
    """Path of an official file, or skip the test with the reason."""
    path = REAL_ROOT / f"{flag}.npz"
    if not path.is_file():
        pytest.skip(f"official {flag}.npz not found under MEDSTRATA_DATA_ROOT={REAL_ROOT}; set it to run real-data tests")
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("medstrata_home")
    monkeypatch.setenv("MEDSTRATA_HOME", str(home))
    monkeypatch.setenv("MEDSTRATA_OFFLINE", "1")
    if REAL_ROOT.is_dir():
        monkeypatch.setenv("MEDSTRATA_DATA_ROOT", str(REAL_ROOT))
    return home


def synthetic_source(flag: str = "bloodmnist", n: tuple[int, int, int] = (400, 120, 200), seed: int = 0) -> Source:
    """A tiny in-memory Source shaped like ``flag`` (2D grey, RGB or 3D), with class-dependent images.

    Labels cycle over the flag's classes; images are noise plus a class-dependent brightness.
    """
    from medstrata.data import info as minfo

    rng = np.random.default_rng(seed)
    k = len(minfo.info(flag)["label"])
    channels = minfo.info(flag)["n_channels"]
    images, labels = {}, {}
    for split, m in zip(("train", "val", "test"), n):
        lab = (np.arange(m) * 7 + seed) % k
        shape = (m, 28, 28, 28) if minfo.is_3d(flag) else ((m, 28, 28, 3) if channels == 3 else (m, 28, 28))
        base = rng.integers(0, 60, size=shape)
        bright = (lab * (150 // max(k - 1, 1))).reshape((m,) + (1,) * (len(shape) - 1))
        images[split] = np.clip(base + bright, 0, 255).astype(np.uint8)
        labels[split] = lab.astype(np.uint8).reshape(m, 1)
    return Source(flag=flag, size=28, path=Path(f"/synthetic/{flag}.npz"), md5="0" * 32,
                  sha256=f"{seed:064x}", images=images, labels=labels)


@contextlib.contextmanager
def synthetic_home(home: Path, n: tuple[int, int, int] = (400, 120, 200)):
    """For module-scoped fixtures: ``MEDSTRATA_HOME=home``, offline, and every official source
    replaced by :func:`synthetic_source` of ``n`` samples; yields the ``MonkeyPatch``."""
    from medstrata.runner import jobs

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDSTRATA_HOME", str(home))
        mp.setenv("MEDSTRATA_OFFLINE", "1")
        mp.setattr(jobs, "_source_cached", lambda root, flag, size: synthetic_source(flag, n=n))
        yield mp


@pytest.fixture
def make_source():
    return synthetic_source
