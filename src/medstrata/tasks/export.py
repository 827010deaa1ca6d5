"""Export a built task as a Hugging Face ``datasets`` folder: Parquet per split, card, Croissant.

Layout of the export folder::

    README.md            dataset card: YAML front matter (licence, configs, features) + how it was built
    croissant.json       Croissant 1.0 JSON-LD metadata (see :mod:`medstrata.tasks.croissant`)
    data/train.parquet   one file per split, written by ``datasets.Dataset.to_parquet``
    data/val.parquet
    data/test.parquet

Columns (one row per sample, in manifest order): ``sample_id`` (string), ``image``, ``label`` and
``clean_label`` (``ClassLabel`` with the task's class names), ``split``, ``source_split`` (string),
``source_index`` and ``source_label`` (int64, official index and label), one ``stratum_<kind>``
``ClassLabel`` per stratum (0 = "non-member", k >= 1 = the sub-stratum names from ``task.json``) and
one ``params_<kind>`` string per stratum (the applied parameters as canonical JSON).

2-D images are ``datasets.Image()``: PNG bytes, mode ``L`` (grey, (H, W)) or ``RGB`` ((H, W, 3)).
3-D volumes are ``datasets.Array3D(shape=(D, H, W), dtype="uint8")``: ``Image`` holds one 2-D
picture (PIL has no volume mode), and slicing a volume into several images would lose the sample's
identity as one row; ``Array3D`` keeps the exact voxels, lossless and typed.

The content is deterministic: PNGs are encoded by PIL with fixed options (no timestamps), rows keep
manifest order, the card and Croissant file contain no dates, so exporting the same task twice with
the same library versions gives byte-identical files.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from medstrata.data.source import SPLITS
from medstrata.errors import MedStrataError
from medstrata.hashing import sha256_file
from medstrata.tasks import croissant
from medstrata.tasks.store import Task, load_task

NON_MEMBER = "non-member"
EXPORT_MARKER = "croissant.json"


def stratum_names(entry: dict) -> list[str] | None:
    """ClassLabel names ``["non-member", name_1, ..., name_K]`` of one ``task.json`` strata entry,
    or None when the ids are not contiguous 1..K or the names are not unique."""
    ids = sorted(int(k) for k in entry["names"])
    if ids != list(range(1, len(ids) + 1)):
        return None
    names = [NON_MEMBER] + [entry["names"][str(k)] for k in ids]
    return names if len(set(names)) == len(names) else None


def task_features(task: Task) -> Any:
    """The ``datasets.Features`` of an exported split (see the module docstring)."""
    from datasets import Array3D, ClassLabel, Features, Image, Value

    kind = task.info["source"]["image_kind"]
    image = Array3D(shape=tuple(task.images.shape[1:]), dtype="uint8") if kind == "3d" else Image()
    classes = ClassLabel(names=list(task.class_names))
    cols: dict[str, Any] = {
        "sample_id": Value("string"), "image": image, "label": classes, "clean_label": classes,
        "split": Value("string"), "source_split": Value("string"),
        "source_index": Value("int64"), "source_label": Value("int64"),
    }
    for entry in task.info["strata"]:
        names = stratum_names(entry)
        cols[f"stratum_{entry['kind']}"] = ClassLabel(names=names) if names else Value("int64")
    for entry in task.info["strata"]:
        cols[f"params_{entry['kind']}"] = Value("string")
    return Features(cols)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of one 2-D image, (H, W) grey -> mode L, (H, W, 3) -> RGB. Deterministic."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def split_columns(task: Task, split: str, features: Any) -> dict[str, list | np.ndarray]:
    """Column lists of one split, rows in manifest order; images encoded for ``features['image']``."""
    rows = task.split_index(split)
    m = task.manifest.iloc[rows]
    if task.info["source"]["image_kind"] == "3d":
        images: list | np.ndarray = np.asarray(task.images[rows])  # (n, D, H, W) uint8
    else:
        images = [{"bytes": encode_png(np.asarray(task.images[i])), "path": None} for i in rows.tolist()]
    cols: dict[str, list | np.ndarray] = {"image": images}
    for name in features:
        if name != "image":
            values = m[name].tolist()
            cols[name] = [int(v) for v in values] if m[name].dtype.kind in "iu" else [str(v) for v in values]
    return {name: cols[name] for name in features}


def write_split(task: Task, split: str, features: Any, path: Path) -> dict:
    """Write one split's Parquet file; returns ``{"rows", "num_bytes", "file_bytes", "sha256"}``."""
    from datasets import Dataset

    ds = Dataset.from_dict(split_columns(task, split, features), features=features)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(path))
    return {"rows": len(ds), "num_bytes": int(ds.data.nbytes), "file_bytes": path.stat().st_size,
            "sha256": sha256_file(path)}


def counts_by_stratum(task: Task) -> dict[str, dict[str, dict[int, int]]]:
    """{stratum column: {split: {sub-stratum id: count}}} including 0 (non-members)."""
    out: dict[str, dict[str, dict[int, int]]] = {}
    for col in task.stratum_columns():
        out[col] = {}
        for split in SPLITS:
            values = task.manifest[col].to_numpy()[task.split_index(split)]
            ids, n = np.unique(values, return_counts=True)
            out[col][split] = {int(i): int(c) for i, c in zip(ids, n)}
    return out


def _prepare_target(out: Path) -> None:
    """Refuse to replace a non-empty folder that is not an earlier export."""
    if out.exists() and any(out.iterdir()) and not (out / EXPORT_MARKER).is_file():
        raise MedStrataError(f"{out} exists and is not a MedStrata export (no {EXPORT_MARKER}); choose another --out")


def _write_parquets(task: Task, features: Any, folder: Path) -> dict[str, dict]:
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        return {split: write_split(task, split, features, folder / "data" / f"{split}.parquet") for split in SPLITS}
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


def _write_all(task: Task, folder: Path) -> dict[str, dict]:
    features = task_features(task)
    files = _write_parquets(task, features, folder)
    strata = counts_by_stratum(task)
    card = croissant.dataset_card(task, features, files, strata)
    (folder / "README.md").write_text(card)
    meta = croissant.croissant_metadata(task, features, files)
    (folder / "croissant.json").write_text(json.dumps(meta, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    return files


def export_task(task_id: str, out: str | None) -> str:
    """Export a built task; returns a summary whose last line is the export folder.

    Args:
        task_id: id of a task under ``MEDSTRATA_HOME/tasks``.
        out: output folder (default ``<task folder>/export``). An earlier export there is replaced
            atomically; any other non-empty folder is refused.
    """
    task = load_task(task_id)
    final = Path(out).expanduser().resolve() if out else task.folder / "export"
    _prepare_target(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task_id}.export.", dir=final.parent))
    try:
        files = _write_all(task, tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    lines = [f"exported task {task_id} ({task.info['source']['flag']}, licence {croissant.licence_id(task.info['source']['flag'])})"]
    lines += [f"  data/{s}.parquet: {f['rows']} rows, {f['file_bytes']} bytes, sha256 {f['sha256'][:16]}..." for s, f in files.items()]
    lines += ["  README.md (dataset card), croissant.json (Croissant 1.0)", str(final)]
    return "\n".join(lines)
