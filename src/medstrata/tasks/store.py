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
import re
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
from medstrata.errors import CorruptArtifactError, SpecError, TaskNotFoundError
from medstrata.hashing import sha256_file
from medstrata.tasks.build import BuiltTask

OUTPUT_FILES = ("task.json", "manifest.parquet", "images.npy")


#: A task id: the first 16 hex digits of a SHA-256 (the last line of ``medstrata build``).
TASK_ID = re.compile(r"[0-9a-f]{16}")


def check_task_id(task_id: str) -> str:
    """``task_id`` if it has the id format, else SpecError (a path or a typo is not an id)."""
    if not isinstance(task_id, str) or not TASK_ID.fullmatch(task_id):
        raise SpecError(f"{task_id!r} is not a task id: an id is 16 lower-case hex digits, the last line "
                        "printed by `medstrata build` (a path is not accepted; tasks live under MEDSTRATA_HOME)")
    return task_id


def task_dir(task_id: str) -> Path:
    """``MEDSTRATA_HOME/tasks/<task_id>``; the id is checked first, so the folder is always inside the home."""
    return paths.tasks_dir() / check_task_id(task_id)


def task_problem(folder: Path) -> str | None:
    """Why the task in ``folder`` cannot be trusted (missing or unreadable ``build_info.json``, a
    missing output file, one whose SHA-256 differs from ``build_info.json``), or None."""
    info_path = folder / "build_info.json"
    if not info_path.is_file():
        return "not built (no build_info.json)"
    try:
        recorded = json.loads(info_path.read_text())["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"{info_path.name} is unreadable or malformed"
    for name in OUTPUT_FILES:
        if not (folder / name).is_file():
            return f"{name} is missing"
        if sha256_file(folder / name) != recorded.get(name):
            return f"{name} does not match the SHA-256 recorded in build_info.json (edited or corrupt)"
    return None


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
    """Atomically write ``task`` to its folder, holding the task's lock (:mod:`medstrata.locks`).

    An existing folder whose files match ``build_info.json`` is kept unless ``overwrite``; one that
    does not match (edited, truncated, half-deleted) is reported on stderr and replaced.
    """
    from medstrata import integrity, locks

    final = task_dir(task.task_id)
    with locks.hold(f"task-{task.task_id}"):
        why = task_problem(final)
        if why is None and not overwrite:
            return final
        if final.exists() and why is not None and not overwrite:
            integrity.report(final, why, "rebuilding")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{task.task_id}.", dir=final.parent))
        try:
            hashes = write_files(task, tmp)
            info = {"task_id": task.task_id, "inputs": {"source": task.info["source"]},
                    "outputs": hashes, "versions": _versions()}
            (tmp / "build_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
            if final.exists():
                os.replace(final, tmp.with_name(tmp.name + ".old"))  # swept as a stale temp below
            os.replace(tmp, final)
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + ".old")):
                if leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)
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


def load_task(task_id: str, check: bool = True) -> Task:
    """Load a built task. With ``check`` (default) every file is first checked against the SHA-256
    recorded in ``build_info.json``; a mismatch raises :class:`CorruptArtifactError` naming the file."""
    folder = task_dir(task_id)
    if not (folder / "build_info.json").is_file():
        known = sorted(p.name for p in paths.tasks_dir().glob("*") if (p / "build_info.json").is_file()) if paths.tasks_dir().is_dir() else []
        hint = f"; built tasks: {', '.join(known[:10])}" if known else "; build one with `medstrata build ...`"
        raise TaskNotFoundError(f"no built task {task_id!r} under {paths.tasks_dir()}{hint}")
    why = task_problem(folder) if check else None
    if why:
        raise CorruptArtifactError(f"task {folder}: {why}; rebuild it with `medstrata build ... --force` "
                                   f"or check it with `medstrata verify {task_id}`")
    info = json.loads((folder / "task.json").read_text())
    manifest = pq.read_table(folder / "manifest.parquet").to_pandas()
    images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
    return Task(task_id=task_id, folder=folder, info=info, manifest=manifest, images=images)


def read_manifest_table(folder: Path) -> pa.Table:
    return pq.read_table(folder / "manifest.parquet")
