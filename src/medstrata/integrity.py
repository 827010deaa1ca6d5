"""Trust nothing on disk: cached artifacts carry a recorded SHA-256 that is checked before use.

Every cached file that is not covered by a ``DONE.json`` (model weights) or a ``build_info.json``
(task files) is written with :func:`write_verified`: the bytes go to a temp file beside the target
and are renamed into place, and a sidecar ``<name>.sha256`` records their SHA-256. :func:`problem`
says why a file cannot be trusted (missing, no record, truncated or edited), or None. A caller that
finds a problem reports it with :func:`report` (by path, on stderr) and recomputes the artifact.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from medstrata.hashing import sha256_file

SUFFIX = ".sha256"


def sidecar(path: Path) -> Path:
    """The file that records ``path``'s SHA-256: ``<name>.sha256`` in the same folder."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def write_verified(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and record its SHA-256 in the sidecar."""
    import hashlib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_bytes(path, data)
    _atomic_bytes(sidecar(path), (hashlib.sha256(data).hexdigest() + "\n").encode())


def record(path: Path) -> None:
    """Record the SHA-256 of an already written ``path`` (written atomically by the caller)."""
    _atomic_bytes(sidecar(path), (sha256_file(Path(path)) + "\n").encode())


def problem(path: Path) -> str | None:
    """Why ``path`` cannot be used (missing file, missing record, hash mismatch), or None."""
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        recorded = sidecar(path).read_text().strip()
    except OSError:
        return f"no recorded hash ({sidecar(path).name} missing)"
    actual = sha256_file(path)
    if actual != recorded:
        return f"SHA-256 {actual[:12]} does not match the recorded {recorded[:12]} (truncated or edited)"
    return None


_LAST: list[str] = [""]


def report(path: Path, why: str, action: str = "recomputing") -> None:
    """One line on stderr naming the artifact, the problem and what is done about it (a repeat of
    the line just printed is skipped)."""
    line = f"cache: {path}: {why}; {action}"
    if line != _LAST[0]:
        print(line, file=sys.stderr)
        _LAST[0] = line


def _atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; caches are ordinary readable data
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
