"""Build a task: apply the strata of a spec to a verified source, in memory.

The output is a :class:`BuiltTask`: the manifest (one row per kept sample), the task images in
manifest order and a JSON-able description. Writing, loading and verifying live in
:mod:`medstrata.tasks.store`. Everything here is a pure function of (spec, source bytes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from medstrata import BUILDER_VERSION
from medstrata.data.source import SPLITS, Source
from medstrata.strata import canonical_order, get_injector
from medstrata.strata.base import BuildState
from medstrata.tasks.spec import TaskSpec
from medstrata.tasks.target import map_labels


@dataclass(frozen=True)
class BuiltTask:
    """A task in memory.

    Attributes:
        task_id: 16-hex content hash.
        spec: the resolved spec.
        manifest: pyarrow Table, one row per sample (see :func:`manifest_schema`).
        images: (N, ...) uint8 in manifest row order.
        info: JSON-able description (class names, strata names, per-stratum summaries, source).
    """

    task_id: str
    spec: TaskSpec
    manifest: pa.Table
    images: np.ndarray
    info: dict


def sample_ids_for(flag: str, size: int, split: str, n: int) -> list[str]:
    """Stable sample ids ``<flag>-<size>-<split>-<index:06d>``."""
    return [f"{flag}-{size}-{split}-{i:06d}" for i in range(n)]


def initial_state(spec: TaskSpec, source: Source) -> BuildState:
    ids, split, idx = [], [], []
    for s in SPLITS:
        n = len(source.images[s])
        ids += sample_ids_for(source.flag, source.size, s, n)
        split += [s] * n
        idx.append(np.arange(n))
    raw = np.concatenate([source.labels[s] for s in SPLITS])
    clean = map_labels(raw, spec.target)
    state = BuildState(
        key=spec.spec_hash, flag=source.flag, image_kind=source.kind, size=source.size,
        sample_ids=np.asarray(ids, dtype=object), split=np.asarray(split, dtype=object),
        source_label=raw[:, 0].astype(np.int64) if raw.shape[1] == 1 else np.full(len(raw), -1, np.int64),
        clean_label=clean, label=clean.copy(), keep=np.ones(len(ids), dtype=bool),
        images=np.concatenate([source.images[s] for s in SPLITS]), n_classes=len(spec.target["class_names"]),
        class_names=list(spec.target["class_names"]), source_class_names=source.class_names, target=spec.target,
        source_index=np.concatenate(idx),
    )
    return state


def build_task(spec: TaskSpec, source: Source) -> BuiltTask:
    """Apply every stratum of ``spec`` to ``source``, in the canonical order. Pure: same inputs, same bytes."""
    state = initial_state(spec, source)
    images = state.images.copy()
    strata_cols, params_cols, infos = {}, {}, []
    for kind, params in sorted(spec.strata, key=lambda kp: canonical_order([k for k, _ in spec.strata]).index(kp[0])):
        injector = get_injector(kind)
        a = injector.assign(params, state)
        if len(a.touched):
            images[a.touched] = injector.apply_batch(images[a.touched], [a.sample_params[i] for i in a.touched.tolist()], state)
        if a.keep is not None:
            state.keep = a.keep
        if a.label is not None:
            state.label = a.label
        strata_cols[kind] = a.stratum
        params_cols[kind] = a.sample_params
        infos.append({"kind": kind, "params": params, "names": {str(k): v for k, v in a.names.items()},
                      "summary": a.summary})
    rows = np.flatnonzero(state.keep)
    manifest = _manifest(state, rows, strata_cols, params_cols)
    task_id = spec.task_id(source.sha256)
    info = {
        "task_id": task_id, "builder_version": BUILDER_VERSION, "spec": spec.to_dict(),
        "source": {"flag": source.flag, "size": source.size, "file": source.path.name,
                   "md5": source.md5, "sha256": source.sha256, "image_kind": source.kind},
        "class_names": state.class_names, "strata": infos,
        "counts": {s: int((state.split[rows] == s).sum()) for s in SPLITS},
    }
    return BuiltTask(task_id=task_id, spec=spec, manifest=manifest, images=np.ascontiguousarray(images[rows]), info=info)


def _manifest(state: BuildState, rows: np.ndarray, strata_cols: dict, params_cols: dict) -> pa.Table:
    cols = {
        "sample_id": pa.array(state.sample_ids[rows].tolist(), pa.string()),
        "source_split": pa.array(state.split[rows].tolist(), pa.string()),
        "source_index": pa.array(state.source_index[rows], pa.int64()),
        "split": pa.array(state.split[rows].tolist(), pa.string()),
        "source_label": pa.array(state.source_label[rows], pa.int64()),
        "label": pa.array(state.label[rows], pa.int64()),
        "clean_label": pa.array(state.clean_label[rows], pa.int64()),
    }
    for kind, col in strata_cols.items():
        cols[f"stratum_{kind}"] = pa.array(col[rows], pa.int64())
    for kind, recorded in params_cols.items():
        cols[f"params_{kind}"] = pa.array(
            [json.dumps(recorded[i], sort_keys=True, separators=(",", ":")) if i in recorded else "{}" for i in rows.tolist()],
            pa.string(),
        )
    return pa.table(cols)
