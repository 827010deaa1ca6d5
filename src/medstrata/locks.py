"""File locks that let concurrent runs on one ``MEDSTRATA_HOME`` share work, and stale-temp sweeping.

:func:`hold` takes an exclusive ``fcntl.flock`` on ``$MEDSTRATA_HOME/locks/<name>.lock`` (one lock
per task id, model key, result key or run folder). A second process that needs the same artifact
waits, then finds it complete and reuses it: every artifact is trained, built or scored once. The
lock is re-entrant within a process (nested holds of one name do not deadlock) and the kernel
drops it when its process dies, so a killed run never leaves a lock behind.

Temp files and folders are named ``.<key>.<random>`` beside their target and are only created while
the lock of ``<key>`` is held; :func:`sweep` removes those whose lock is free (left by a killed
process), never those of a live writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator

from medstrata import paths

_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth)
_GUARD = threading.Lock()


def lock_path(name: str) -> Path:
    """``$MEDSTRATA_HOME/locks/<name>.lock``; ``name`` is a key, never a path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"lock names are plain keys, got {name!r}")
    return paths.home() / "locks" / f"{name}.lock"


@contextlib.contextmanager
def hold(name: str, blocking: bool = True) -> Iterator[bool]:
    """Hold the exclusive lock ``name`` inside the block; yields False only when ``blocking`` is
    False and another process holds it (the block then runs without the lock)."""
    path = str(lock_path(name))
    with _GUARD:
        if path in _HELD:
            fd, depth = _HELD[path]
            _HELD[path] = (fd, depth + 1)
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield True
        finally:
            _release(path)
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    with _GUARD:
        _HELD[path] = (fd, 1)
    try:
        yield True
    finally:
        _release(path)


def _release(path: str) -> None:
    with _GUARD:
        fd, depth = _HELD[path]
        if depth > 1:
            _HELD[path] = (fd, depth - 1)
            return
        del _HELD[path]
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def is_free(name: str) -> bool:
    """True when no process (this one included) holds lock ``name`` right now."""
    if str(lock_path(name)) in _HELD:
        return False
    with hold(name, blocking=False) as got:
        return got


def sweep(folder: Path, prefix: str) -> list[Path]:
    """Remove the stale temps ``.<key>.<rest>`` in ``folder`` whose lock ``<prefix>-<key>`` is free.

    Returns the removed paths. Entries of a live writer (lock held) are left alone.
    """
    removed = []
    if not Path(folder).is_dir():
        return removed
    for entry in sorted(Path(folder).iterdir()):
        name = entry.name
        if not name.startswith(".") or name.count(".") < 2:
            continue
        key = name[1:].split(".", 1)[0]
        if not key or not is_free(f"{prefix}-{key}"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
        removed.append(entry)
    return removed
