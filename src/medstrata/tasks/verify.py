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
from medstrata.tasks.store import OUTPUT_FILES, load_task, read_manifest_table, write_files


def verify_task(task_id: str) -> list[str]:
    """Rebuild ``task_id`` and return a list of differences (empty = identical)."""
    task = load_task(task_id)
    build_info = json.loads((task.folder / "build_info.json").read_text())
    spec = TaskSpec.from_dict(task.info["spec"])
    source = load_source(spec.dataset, spec.size)
    problems = []
    if source.sha256 != task.info["source"]["sha256"]:
        problems.append(f"source {source.path.name}: SHA-256 {source.sha256} differs from the recorded {task.info['source']['sha256']}")
    rebuilt = build_task(spec, source)
    if rebuilt.task_id != task_id:
        problems.append(f"task id: the spec now hashes to {rebuilt.task_id}, not {task_id}")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write_files(rebuilt, Path(tmp))
        for name in OUTPUT_FILES:
            stored = sha256_file(task.folder / name)
            recorded = build_info["outputs"].get(name)
            if stored != recorded:
                problems.append(f"{name}: file on disk (sha256 {stored[:12]}) differs from build_info ({str(recorded)[:12]})")
            if fresh[name] != stored:
                problems.append(f"{name}: rebuilt sha256 {fresh[name][:12]} != stored {stored[:12]}; " + _detail(name, task, rebuilt, Path(tmp)))
    return problems


def _detail(name: str, task, rebuilt, tmp: Path) -> str:
    if name == "images.npy":
        old = np.asarray(task.images)
        if old.shape != rebuilt.images.shape:
            return f"shape {old.shape} vs {rebuilt.images.shape}"
        diff = (old.reshape(len(old), -1) != rebuilt.images.reshape(len(old), -1)).any(axis=1)
        return f"{int(diff.sum())} of {len(old)} samples have different pixels"
    if name == "manifest.parquet":
        old, new = read_manifest_table(task.folder), read_manifest_table(tmp)
        if old.num_rows != new.num_rows:
            return f"{old.num_rows} rows stored vs {new.num_rows} rebuilt"
        cols = sorted(set(old.column_names) ^ set(new.column_names))
        changed = [c for c in old.column_names if c in new.column_names and not old[c].equals(new[c])]
        return f"columns differing: {', '.join(changed + cols) or 'none (encoding only)'}"
    return "description differs (spec, counts or strata summary)"
