"""``medstrata verify <task id>``: rebuild a task from the official bytes and compare, file by file.

Exit status 0 only if every output file is byte-identical to the stored one and to the hashes in
``build_info.json``; otherwise the report says which file differs, and for the manifest which
columns and how many rows, for the images how many samples.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from medstrata.data.source import load_source
from medstrata.hashing import sha256_file
from medstrata.tasks.build import build_task
from medstrata.tasks.spec import TaskSpec
from medstrata.errors import TaskNotFoundError
from medstrata.tasks.store import OUTPUT_FILES, read_manifest_table, task_dir, write_files


def verify_task(task_id: str) -> list[str]:
    """Rebuild ``task_id`` and return a list of differences (empty = identical).

    A missing or malformed file is a difference, not a crash; only a missing folder (no such task)
    or an unreadable ``task.json`` (no spec to rebuild from) stops the comparison early.
    """
    folder = task_dir(task_id)
    if not folder.is_dir():
        raise TaskNotFoundError(f"no task {task_id!r} under {folder.parent}")
    problems: list[str] = []
    build_info = _read_json(folder / "build_info.json", problems)
    info = _read_json(folder / "task.json", problems)
    if info is None:
        return problems + ["task.json holds the spec; without it the task cannot be rebuilt"]
    try:
        spec = TaskSpec.from_dict(info["spec"])
    except (KeyError, TypeError) as exc:
        return problems + [f"task.json: its spec is malformed ({type(exc).__name__}: {exc}); cannot rebuild"]
    source = load_source(spec.dataset, spec.size)
    if source.sha256 != info.get("source", {}).get("sha256"):
        problems.append(f"source {source.path.name}: SHA-256 {source.sha256} differs from the recorded {info.get('source', {}).get('sha256')}")
    rebuilt = build_task(spec, source)
    if rebuilt.task_id != task_id:
        problems.append(f"task id: the spec now hashes to {rebuilt.task_id}, not {task_id}")
    recorded = (build_info or {}).get("outputs", {}) if isinstance(build_info, dict) else {}
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write_files(rebuilt, Path(tmp))
        for name in OUTPUT_FILES:
            if not (folder / name).is_file():
                problems.append(f"{name}: missing from {folder}")
                continue
            stored = sha256_file(folder / name)
            if build_info is not None and stored != recorded.get(name):
                problems.append(f"{name}: file on disk (sha256 {stored[:12]}) differs from build_info ({str(recorded.get(name))[:12]})")
            if fresh[name] != stored:
                problems.append(f"{name}: rebuilt sha256 {fresh[name][:12]} != stored {stored[:12]}; " + _detail(name, folder, rebuilt, Path(tmp)))
    return problems


def _read_json(path: Path, problems: list[str]):
    """The parsed JSON of ``path``, or None with the reason appended to ``problems``."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        problems.append(f"{path.name}: missing from {path.parent}")
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: not valid JSON ({exc})")
    return None


def _detail(name: str, folder: Path, rebuilt, tmp: Path) -> str:
    if name == "images.npy":
        try:
            old = np.load(folder / name, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            return f"the stored file cannot be read as an array ({exc})"
        if old.shape != rebuilt.images.shape:
            return f"shape {old.shape} vs {rebuilt.images.shape}"
        diff = (np.asarray(old).reshape(len(old), -1) != rebuilt.images.reshape(len(old), -1)).any(axis=1)
        return f"{int(diff.sum())} of {len(old)} samples have different pixels"
    if name == "manifest.parquet":
        try:
            old = read_manifest_table(folder)
        except (OSError, ValueError) as exc:
            return f"the stored file cannot be read as Parquet ({exc})"
        new = read_manifest_table(tmp)
        if old.num_rows != new.num_rows:
            return f"{old.num_rows} rows stored vs {new.num_rows} rebuilt"
        cols = sorted(set(old.column_names) ^ set(new.column_names))
        changed = [c for c in old.column_names if c in new.column_names and not old[c].equals(new[c])]
        return f"columns differing: {', '.join(changed + cols) or 'none (encoding only)'}"
    return "the text differs (formatting, spec, counts or strata summary)"
