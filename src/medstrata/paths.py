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
