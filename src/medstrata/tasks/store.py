"""Write, find and load built tasks under ``MEDSTRATA_HOME/tasks/<task_id>/``.

A task folder holds::

    task.json         description: spec, source identity, class and strata names, counts
    manifest.parquet  one row per sample (sample id, splits, labels, stratum ids, applied params)
    images.npy        (N, ...) uint8, in manifest row order
    build_info.json   package versions and SHA-256 of every input and output

Writes are atomic: the folder is assembled under a temporary name and renamed into place, and
``build_info.json`` is written last, so a killed build never leaves a folder that looks complete.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from medstrata import __version__, paths
from medstrata.errors import TaskNotFoundError
from medstrata.hashing import sha256_file
from medstrata.tasks.build import BuiltTask

OUTPUT_FILES = ("task.json", "manifest.parquet", "images.npy")


def task_dir(task_id: str) -> Path:
    return paths.tasks_dir() / task_id


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    out = {"python": platform.python_version(), "medstrata": __version__}
    for pkg in ("numpy", "pyarrow", "medmnist"):
        out[pkg] = version(pkg)
    return out


def write_files(task: BuiltTask, folder: Path) -> dict[str, str]:
    """Write the three output files into ``folder``; returns {file name: sha256}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.json").write_text(json.dumps(task.info, indent=2, sort_keys=True) + "\n")
    pq.write_table(task.manifest, folder / "manifest.parquet", compression="zstd")
    with open(folder / "images.npy", "wb") as f:
        np.save(f, task.images, allow_pickle=False)
    return {name: sha256_file(folder / name) for name in OUTPUT_FILES}


def save_task(task: BuiltTask, overwrite: bool = False) -> Path:
    """Atomically write ``task`` to its folder. An existing complete folder is kept unless ``overwrite``."""
    final = task_dir(task.task_id)
    if (final / "build_info.json").is_file() and not overwrite:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task.task_id}.", dir=final.parent))
    try:
        hashes = write_files(task, tmp)
        info = {"task_id": task.task_id, "inputs": {"source": task.info["source"]},
                "outputs": hashes, "versions": _versions()}
        (tmp / "build_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


@dataclass(frozen=True)
class Task:
    """A built task loaded from disk. ``images`` is memory-mapped, (N, ...) uint8 in manifest order."""

    task_id: str
    folder: Path
    info: dict
    manifest: pd.DataFrame
    images: np.ndarray

    @property
    def class_names(self) -> list[str]:
        return self.info["class_names"]

    def stratum_columns(self) -> list[str]:
        return [c for c in self.manifest.columns if c.startswith("stratum_")]

    def split_index(self, split: str) -> np.ndarray:
        """Row positions of one split, (n_split,) int64."""
        return np.flatnonzero(self.manifest["split"].to_numpy() == split)


def load_task(task_id: str) -> Task:
    folder = task_dir(task_id)
    if not (folder / "build_info.json").is_file():
        known = sorted(p.name for p in paths.tasks_dir().glob("*") if (p / "build_info.json").is_file()) if paths.tasks_dir().is_dir() else []
        hint = f"; built tasks: {', '.join(known[:10])}" if known else "; build one with `medstrata build ...`"
        raise TaskNotFoundError(f"no built task {task_id!r} under {paths.tasks_dir()}{hint}")
    info = json.loads((folder / "task.json").read_text())
    manifest = pq.read_table(folder / "manifest.parquet").to_pandas()
    images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
    return Task(task_id=task_id, folder=folder, info=info, manifest=manifest, images=images)


def read_manifest_table(folder: Path) -> pa.Table:
    return pq.read_table(folder / "manifest.parquet")
