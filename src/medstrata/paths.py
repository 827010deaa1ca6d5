"""Where MedStrata reads data from and writes to.

* ``MEDSTRATA_DATA_ROOT``: folder with the official MedMNIST ``.npz`` files
  (default: medmnist's own default root, ``~/.medmnist``).
* ``MEDSTRATA_HOME``: everything MedStrata writes (tasks, model caches, runs); default ``~/.medstrata``.
  Nothing is ever written into the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

MEDMNIST_DEFAULT_ROOT = Path("~/.medmnist")


def data_root() -> Path:
    """Folder that holds (or will hold) the official MedMNIST files."""
    env = os.environ.get("MEDSTRATA_DATA_ROOT")
    return Path(env).expanduser() if env else MEDMNIST_DEFAULT_ROOT.expanduser()


def home() -> Path:
    """Root folder for everything MedStrata writes."""
    env = os.environ.get("MEDSTRATA_HOME")
    return Path(env).expanduser() if env else Path("~/.medstrata").expanduser()


def tasks_dir() -> Path:
    return home() / "tasks"


def cache_dir() -> Path:
    return home() / "cache"


def runs_dir() -> Path:
    return home() / "runs"


def check_writable(folder: Path, what: str) -> Path:
    """Create ``folder`` if needed and prove it is writable; returns it.

    Raises :class:`~medstrata.errors.EnvironmentProblemError` naming the path and the reason
    (read-only file system, permission denied, a file where a folder should be, ...).
    """
    import tempfile

    from medstrata.errors import EnvironmentProblemError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise EnvironmentProblemError(f"{what} {folder} is not writable: {reason}") from None
    return folder


def check_home() -> Path:
    """:func:`check_writable` on ``MEDSTRATA_HOME`` (called before any work that writes)."""
    return check_writable(home(), "MEDSTRATA_HOME")
