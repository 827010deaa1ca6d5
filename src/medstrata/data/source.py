"""Load an official MedMNIST file, verifying its MD5 on **every** load.

The source identity used in task ids is the SHA-256 of the exact ``.npz`` bytes. A missing file is
downloaded from the URL in ``medmnist.INFO`` when the network allows; otherwise the error names the
file, its MD5, the URL and the folder to put it in.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medstrata import paths
from medstrata.data import info as minfo
from medstrata.errors import ChecksumMismatchError, DataFileMissingError, MedStrataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Source:
    """One official MedMNIST file, loaded and verified.

    Attributes:
        flag, size: which file.
        path: where it was read from.
        md5, sha256: digests of the exact file bytes.
        images: split -> uint8 array, (n, H, W) grey, (n, H, W, 3) RGB or (n, D, H, W) 3D.
        labels: split -> uint8 array (n, L); L = 1 except for multi-label chestmnist (L = 14).
    """

    flag: str
    size: int
    path: Path
    md5: str
    sha256: str
    images: dict[str, np.ndarray] = field(repr=False)
    labels: dict[str, np.ndarray] = field(repr=False)

    @property
    def info(self) -> dict[str, Any]:
        return minfo.info(self.flag)

    @property
    def task_type(self) -> str:
        return self.info["task"]

    @property
    def class_names(self) -> list[str]:
        return minfo.class_names(self.flag)

    @property
    def kind(self) -> str:
        """``"3d"``, ``"2d_rgb"`` or ``"2d_grey"``."""
        if minfo.is_3d(self.flag):
            return "3d"
        return "2d_rgb" if self.images["train"].ndim == 4 else "2d_grey"


def _manual_message(flag: str, size: int, target: Path) -> str:
    url, md5 = minfo.url_and_md5(flag, size)
    return (
        f"data file {target.name} for {flag} (size {size}) is not in {target.parent} and could not be "
        f"downloaded.\n  expected MD5: {md5}\n  download it from: {url}\n  and put it at: {target}\n"
        f"  (or point MEDSTRATA_DATA_ROOT at the folder that holds it)"
    )


def _download(url: str, target: Path, timeout: float = 20.0) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (URL from medmnist.INFO)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
            shutil.copyfileobj(resp, tmp)
    Path(tmp.name).replace(target)


def ensure_file(flag: str, size: int = 28, root: Path | None = None, download: bool = True) -> Path:
    """Path of the official file, downloading it if absent and allowed. Does not verify it.

    Set ``MEDSTRATA_OFFLINE=1`` to never try the network."""
    minfo.check_size(flag, size)
    target = (root or paths.data_root()) / minfo.file_name(flag, size)
    if target.is_file():
        return target
    if download and os.environ.get("MEDSTRATA_OFFLINE", "") not in ("1", "true", "yes"):
        url, _ = minfo.url_and_md5(flag, size)
        try:
            _download(url, target)
            return target
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise DataFileMissingError(_manual_message(flag, size, target) + f"\n  network error: {exc}") from None
    raise DataFileMissingError(_manual_message(flag, size, target))


def read_verified(path: Path, flag: str, size: int) -> tuple[bytes, str, str]:
    """Read the file bytes and check the MD5 against ``medmnist.INFO``. Returns (bytes, md5, sha256)."""
    data = path.read_bytes()
    md5 = hashlib.md5(data).hexdigest()  # noqa: S324 (MedMNIST publishes MD5)
    _, expected = minfo.url_and_md5(flag, size)
    if md5 != expected:
        raise ChecksumMismatchError(
            f"checksum mismatch for {path}: expected MD5 {expected}, actual MD5 {md5}. The file is "
            f"corrupt or not the official release; delete it and download it again from "
            f"{minfo.url_and_md5(flag, size)[0]}"
        )
    return data, md5, hashlib.sha256(data).hexdigest()


def load_source(flag: str, size: int = 28, root: Path | None = None, download: bool = True) -> Source:
    """Load and verify one official MedMNIST file.

    Raises:
        UnknownDatasetError, UnsupportedSizeError, DataFileMissingError, ChecksumMismatchError.
    """
    path = ensure_file(flag, size, root, download)
    data, md5, sha = read_verified(path, flag, size)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            images = {s: npz[f"{s}_images"] for s in SPLITS}
            labels = {s: npz[f"{s}_labels"].reshape(len(images[s]), -1) for s in SPLITS}
    except (KeyError, ValueError, OSError) as exc:
        raise MedStrataError(f"{path} passed its checksum but could not be read as a MedMNIST npz: {exc}") from None
    return Source(flag=flag, size=size, path=path, md5=md5, sha256=sha, images=images, labels=labels)
