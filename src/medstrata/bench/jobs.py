"""The three job types of a run, each a pure function of content-hashed inputs with its own folder.

* :func:`task_job` (dataset, kind, params, seed) -> task id (built once, under ``tasks/<id>``).
* :func:`model_job` (task id, model spec, seed) -> reference model + outputs (``cache/models/<hash>``)
  and the reference model's worst-group record.
* :func:`method_job` (task id, model id, method name/params/version, seed, embedding) -> flat
  recovery records, cached as JSON under ``cache/results/<hash>.json`` (written atomically).

Only this module and the scorer read the manifest's strata; methods get :class:`Problem` objects.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from medstrata import __version__, paths
from medstrata.hashing import content_hash
from medstrata.problem import Problem
from medstrata.tasks.store import Task, load_task

#: Tasks are read once per process, not once per job step (manifest parquet + memory-mapped images).
_load_task = lru_cache(maxsize=4)(load_task)

#: Part of every method-result cache key: bump when scoring changes the numbers of a stored result.
SCORER_VERSION = "1"


@lru_cache(maxsize=8)
def _source(flag: str, size: int):
    from medstrata.data.source import load_source

    return load_source(flag, size)


def task_job(dataset: str, kind: str, params: dict, seed: int) -> str:
    """Build (or reuse) the task; returns its id. The source is loaded and checksummed once per run."""
    from medstrata.tasks.build import build_task
    from medstrata.tasks.spec import resolve_spec
    from medstrata.tasks.store import save_task, task_dir

    spec = resolve_spec(dataset, 28, seed, None, [(kind, dict(params))])
    source = _source(dataset, 28)
    task_id = spec.task_id(source.sha256)
    if not (task_dir(task_id) / "build_info.json").is_file():
        save_task(build_task(spec, source))
    return task_id


def split_arrays(task: Task, split: str):
    """:class:`SplitArrays` of one split with the *observed* labels (what a model trains on)."""
    from medstrata.models import SplitArrays

    idx = task.split_index(split)
    m = task.manifest.iloc[idx]
    return SplitArrays(m.sample_id.to_numpy(dtype=object), np.ascontiguousarray(task.images[idx]),
                       m.label.to_numpy(dtype=np.int64))


def strata_of(task: Task, split: str) -> dict[str, np.ndarray]:
    """{stratum column: (n_split,) int ids} for one split, in manifest order."""
    idx = task.split_index(split)
    return {c: task.manifest[c].to_numpy()[idx] for c in task.stratum_columns()}


def model_job(task_id: str, model_spec: dict, seed: int, progress: bool) -> dict[str, Any]:
    """Train (or reuse) the reference model and its outputs; returns {model_id, model_dir, wall_s, trained}."""
    from medstrata.models import cache
    from medstrata.models.outputs import reference_outputs

    task = _load_task(task_id)
    t0 = time.perf_counter()
    splits = {s: split_arrays(task, s) for s in ("train", "val", "test")}
    n_classes = len(task.class_names)
    spec = _model_spec(dict(model_spec), splits["train"].kind)
    key = cache.model_key(task_id, splits["train"], splits["val"], n_classes, spec, seed)
    trained = not cache.is_valid(cache.models_root() / key)
    model_dir = reference_outputs(task_id, splits, n_classes, spec, seed, progress=progress)
    return {"model_id": model_dir.name[:16], "model_dir": str(model_dir), "wall_s": time.perf_counter() - t0,
            "trained": trained}


def identification_job(task_id: str, model_spec: dict, seed: int) -> dict[str, str]:
    """Train (or reuse) JTT's identification model (see :mod:`medstrata.models.identification`);
    returns {id_model_id, id_model_dir}, to be merged into the model record of the task."""
    from medstrata.models.identification import identification_outputs

    task = _load_task(task_id)
    splits = {s: split_arrays(task, s) for s in ("train", "val", "test")}
    spec = _model_spec(dict(model_spec), splits["train"].kind)
    model_dir = identification_outputs(task_id, splits, len(task.class_names), spec, seed)
    return {"id_model_id": model_dir.name[:16], "id_model_dir": str(model_dir)}


def _model_spec(spec: dict, kind: str) -> dict:
    """3-D tasks get the 3-D CNN whatever 2-D architecture the suite names."""
    if kind == "3d" and spec.get("arch", "small_cnn") != "small_cnn3d":
        spec["arch"] = "small_cnn3d"
    return spec


def problem(model_dir: str, split: str, embedding: str) -> Problem:
    from medstrata.models.outputs import load_outputs

    return load_outputs(Path(model_dir), split, embedding)


def reference_record(task_id: str, model: dict, seed: int, embedding: str) -> list[dict]:
    """Worst-group metrics of the reference model on test, one flat record per stratum column."""
    from medstrata.scoring import worst_group_metrics

    task = _load_task(task_id)
    test = problem(model["model_dir"], "test", embedding)
    order = _align(task, "test", test.sample_ids)
    labels = task.manifest.clean_label.to_numpy()[task.split_index("test")][order]
    train_strata = strata_of(task, "train")
    train_labels = task.manifest.label.to_numpy()[task.split_index("train")]
    out = []
    for col, ids in strata_of(task, "test").items():
        sizes = _group_sizes(train_labels, train_strata[col])
        rec = worst_group_metrics(labels, test.probs, ids[order], train_group_sizes=sizes)
        out.append({**_ids(task, model, seed), "stratum_column": col, **_flat(rec)})
    return out


def method_job(task_id: str, model: dict, method: dict, seed: int, embedding: str) -> list[dict]:
    """Run one discovery method (fit on val, predict on test) and score it; cached by content hash."""
    from medstrata.methods import get_method_class

    cls = get_method_class(method["name"])
    key = result_key(task_id, model, method, seed, embedding)
    cached = paths.cache_dir() / "results" / f"{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    records = _run_and_score(task_id, model, method, cls, seed, embedding)
    for r in records:
        r["result_id"] = key
    _atomic_json(cached, records)
    return records



def result_key(task_id: str, model: dict, method: dict, seed: int, embedding: str) -> str:
    """Cache key (and ``result_id``) of one method result: task, model, method name, resolved params,
    the method's own ``version``, the distribution that provides it and that distribution's version
    (``medstrata`` for built-ins; a plug-in's own), seed, embedding and scorer version."""
    from medstrata.methods import get_method_class, method_package

    cls = get_method_class(method["name"])
    package, package_version = method_package(method["name"])
    parts = {"task": task_id, "model": model["model_id"], "method": method["name"],
             "params": method.get("params", {}), "version": cls.version, "seed": seed,
             "embedding": embedding, "scorer": SCORER_VERSION, "package": package,
             "package_version": package_version}
    if cls.needs_identification_model:
        parts["id_model"] = model["id_model_id"]
    return content_hash(parts)


def _run_and_score(task_id: str, model: dict, method: dict, cls, seed: int, embedding: str) -> list[dict]:
    from medstrata.scoring import score_recovery

    task = _load_task(task_id)
    val, test = problem(model["model_dir"], "val", embedding), problem(model["model_dir"], "test", embedding)
    if cls.needs_identification_model:
        from medstrata.models.identification import attach

        val, test = attach(val, model["id_model_dir"], "val"), attach(test, model["id_model_dir"], "test")
    params = dict(method.get("params", {}))
    if cls.is_oracle:
        truth = dict(zip(task.manifest.sample_id, task.manifest[task.stratum_columns()[0]]))
        params["truth"] = truth
    t0 = time.perf_counter()
    est = cls(random_state=seed, **params).fit(val)
    scores = est.predict_proba(test)
    wall = time.perf_counter() - t0
    order = _align(task, "test", test.sample_ids)
    records = []
    for col, ids in strata_of(task, "test").items():
        for rec in score_recovery(scores, ids[order]):
            records.append({**_ids(task, model, seed), "method": method["name"], "method_version": cls.version,
                            "is_oracle": bool(cls.is_oracle), "embedding": embedding, "stratum_column": col,
                            "method_params": json.dumps(method.get("params", {}), sort_keys=True),
                            "prevalence": float(np.mean(ids[order] == rec["stratum_id"])),
                            "n_slices": int(scores.shape[1]), "wall_s": wall, **_flat(rec)})
    return records


def _align(task: Task, split: str, sample_ids: np.ndarray) -> np.ndarray:
    """Positions into the task's split rows for each of ``sample_ids`` (join by sample id)."""
    ids = task.manifest.sample_id.to_numpy()[task.split_index(split)]
    pos = {s: i for i, s in enumerate(ids.tolist())}
    missing = [s for s in sample_ids.tolist() if s not in pos]
    if missing:
        raise KeyError(f"{len(missing)} sample ids of the model outputs are not in task {task.task_id}: {missing[:3]}")
    return np.asarray([pos[s] for s in sample_ids.tolist()], dtype=np.int64)


def _group_sizes(labels: np.ndarray, strata: np.ndarray) -> dict:
    keys, counts = np.unique(np.stack([labels, strata], axis=1), axis=0, return_counts=True)
    return {(int(a), int(b)): int(c) for (a, b), c in zip(keys, counts)}


def _ids(task: Task, model: dict, seed: int) -> dict:
    spec = task.info["spec"]
    stratum = spec["strata"][0] if spec["strata"] else {"kind": "none", "params": {}}
    return {"task_id": task.task_id, "dataset": spec["dataset"], "kind": stratum["kind"],
            "stratum_params": json.dumps(stratum["params"], sort_keys=True), "model_id": model["model_id"],
            "seed": seed, "medstrata_version": __version__}


def _flat(rec: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v, default=str))
            for k, v in rec.items()}


def _atomic_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=float)
    os.replace(tmp, path)
