import hashlib
import io
import subprocess
import sys

import numpy as np
import pytest

from medstrata.data import info as minfo
from medstrata.data.source import load_source
from medstrata.errors import ChecksumMismatchError, DataFileMissingError, UnknownDatasetError, UnsupportedSizeError


def _write_fake(path, n=20):
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    arrays = {}
    for s in ("train", "val", "test"):
        arrays[f"{s}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{s}_labels"] = rng.integers(0, 2, (n, 1), dtype=np.uint8)
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())
    return hashlib.md5(buf.getvalue()).hexdigest()


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    md5 = _write_fake(tmp_path / "pneumoniamnist.npz")
    monkeypatch.setattr(minfo, "url_and_md5", lambda flag, size: ("http://127.0.0.1:9/none.npz", md5))
    monkeypatch.setenv("MEDSTRATA_DATA_ROOT", str(tmp_path))
    return tmp_path, md5


def test_loads_and_verifies_synthetic_file(fake_root):
    src = load_source("pneumoniamnist")
    assert src.images["train"].shape == (20, 28, 28) and src.labels["test"].shape == (20, 1)
    assert src.md5 == fake_root[1] and len(src.sha256) == 64 and src.kind == "2d_grey"


def test_checksum_is_checked_on_every_load(fake_root):
    root, md5 = fake_root
    load_source("pneumoniamnist")
    data = bytearray((root / "pneumoniamnist.npz").read_bytes())
    data[100] ^= 0xFF
    (root / "pneumoniamnist.npz").write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatchError) as exc:
        load_source("pneumoniamnist")
    assert md5 in str(exc.value) and hashlib.md5(bytes(data)).hexdigest() in str(exc.value)


def test_missing_file_offline_names_file_md5_url_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSTRATA_DATA_ROOT", str(tmp_path))
    with pytest.raises(DataFileMissingError) as exc:
        load_source("dermamnist")
    msg = str(exc.value)
    url, md5 = minfo.url_and_md5("dermamnist", 28)
    assert "dermamnist.npz" in msg and md5 in msg and url in msg and str(tmp_path) in msg


def test_failed_download_gives_manual_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDSTRATA_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("MEDSTRATA_OFFLINE")
    monkeypatch.setattr(minfo, "url_and_md5", lambda flag, size: ("http://127.0.0.1:9/x.npz", "f" * 32))
    with pytest.raises(DataFileMissingError, match="network error"):
        load_source("octmnist")
    assert not list(tmp_path.glob("*.part")), "a failed download must not leave partial files"


def test_unknown_flag_and_size():
    with pytest.raises(UnknownDatasetError, match="pathmnist"):
        load_source("cifar10")
    with pytest.raises(UnsupportedSizeError):
        load_source("vesselmnist3d", 224)


def test_size_file_names_and_urls_for_all_flags():
    for flag in minfo.flags():
        for size in minfo.supported_sizes(flag):
            url, md5 = minfo.url_and_md5(flag, size)
            assert url.startswith("https://") and len(md5) == 32
            assert minfo.file_name(flag, size) == (f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz")


def test_cli_error_has_no_traceback(tmp_path):
    env = {"MEDSTRATA_DATA_ROOT": str(tmp_path), "MEDSTRATA_HOME": str(tmp_path / "h"), "MEDSTRATA_OFFLINE": "1", "PATH": ""}
    out = subprocess.run([sys.executable, "-m", "medstrata.cli", "build", "dataset=breastmnist", "stratum=label_noise"],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "750601b1f35ba3300ea97c75c52ff8f6" in out.stderr


def test_reading_info_writes_nothing_and_skips_torch(tmp_path):
    code = "import sys; from medstrata.data import info; info.flags(); print('torch' in sys.modules)"
    env = {"HOME": str(tmp_path), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False" and not list(tmp_path.iterdir())
