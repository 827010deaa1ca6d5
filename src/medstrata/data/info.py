"""Metadata of the MedMNIST flags, read from ``medmnist.INFO`` (the single source of truth).

``import medmnist`` pulls in torch (about 2 s); this module reads ``INFO`` from ``medmnist/info.py``
as a literal, so listing flags and validating specs stays fast and has no side effects.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from medstrata.errors import MissingDependencyError, UnknownDatasetError, UnsupportedSizeError

SIZES_2D = (28, 64, 128, 224)
SIZES_3D = (28, 64)


@lru_cache(maxsize=1)
def _info_literals() -> dict[str, Any]:
    """``__version__`` and ``INFO`` of the installed medmnist, read as literals from ``medmnist/info.py``.

    Nothing of medmnist is executed: importing it would pull in torch, and its ``info.py`` creates
    ``~/.medmnist`` on import, while MedStrata writes only under ``MEDSTRATA_HOME``.
    """
    spec = importlib.util.find_spec("medmnist")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("the 'medmnist' package is not installed: pip install medmnist==3.0.2")
    path = Path(list(spec.submodule_search_locations)[0]) / "info.py"
    values = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("__version__", "INFO"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    if set(values) != {"__version__", "INFO"}:
        raise MissingDependencyError(f"could not read INFO from {path}; is medmnist 3.0.x installed?")
    return values


def all_info() -> dict[str, dict[str, Any]]:
    """``medmnist.INFO``: flag -> metadata dict."""
    return _info_literals()["INFO"]


def medmnist_version() -> str:
    return _info_literals()["__version__"]


def flags() -> list[str]:
    return list(all_info())


def info(flag: str) -> dict[str, Any]:
    """Metadata for one flag; raises :class:`UnknownDatasetError` listing the valid flags."""
    table = all_info()
    if flag not in table:
        raise UnknownDatasetError(f"unknown dataset flag {flag!r}; valid flags: {', '.join(table)}")
    return table[flag]


def is_3d(flag: str) -> bool:
    return flag.endswith("3d")


def supported_sizes(flag: str) -> tuple[int, ...]:
    meta = info(flag)
    return tuple(s for s in (SIZES_3D if is_3d(flag) else SIZES_2D) if s == 28 or f"url_{s}" in meta)


def check_size(flag: str, size: int) -> None:
    sizes = supported_sizes(flag)
    if size not in sizes:
        raise UnsupportedSizeError(
            f"size {size} is not published for {flag}; supported sizes: {', '.join(map(str, sizes))}"
        )


def file_name(flag: str, size: int) -> str:
    """File name medmnist uses: ``bloodmnist.npz`` at 28 px, ``bloodmnist_64.npz`` otherwise."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def url_and_md5(flag: str, size: int) -> tuple[str, str]:
    meta = info(flag)
    check_size(flag, size)
    suffix = "" if size == 28 else f"_{size}"
    return meta[f"url{suffix}"], meta[f"MD5{suffix}"]


def class_names(flag: str) -> list[str]:
    labels = info(flag)["label"]
    return [labels[str(i)] for i in range(len(labels))]


def licence(flag: str) -> str:
    return info(flag).get("license", "CC BY 4.0")
