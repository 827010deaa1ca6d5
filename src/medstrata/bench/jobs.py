"""The three job types of a run, each a pure function of content-hashed inputs with its own folder.

* :func:`task_job` (dataset, [(kind, params), ...], seed, target) -> task id (built once, under ``tasks/<id>``).
* :func:`model_job` (task id, model spec, seed) -> reference model + outputs (``cache/models/<hash>``)
  and the reference model's worst-group record.
* :func:`method_job` (task id, model id, method name/params/version, seed, embedding, slice budget
  ``n_slices``, discovery ``random_state``) -> flat recovery records, cached as JSON under
  ``cache/results/<hash>.json`` (written atomically).

**Groups use the clean label.** The reference model's class x stratum groups are keyed by the
*clean* (true) label in test and in the training group sizes alike; under label noise the observed
training label differs, and mixing the two put flipped samples into the wrong group.

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
SCORER_VERSION = "3"  # 2: expected P@k, split-half matching, unassigned rows, AP replicates; 3: + target/task_strata, oracle per stratum column


@lru_cache(maxsize=8)
def _source(flag: str, size: int):
    from medstrata.data.source import load_source

    return load_source(flag, size)


def task_job(dataset: str, strata: list[tuple[str, dict]], seed: int, target: str | None = None) -> str:
    """Build (or reuse) the task; returns its id. The source is loaded and checksummed once per run.

    ``strata`` is the list of ``(kind, params)`` in the order given; ``target`` None = dataset default.
    """
    from medstrata.tasks.build import build_task
    from medstrata.tasks.spec import resolve_spec
    from medstrata.tasks.store import save_task, task_dir

    spec = resolve_spec(dataset, 28, seed, target, [(k, dict(p)) for k, p in strata])
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
    train_labels = task.manifest.clean_label.to_numpy()[task.split_index("train")]
    out = []
    for col, ids in strata_of(task, "test").items():
        sizes = _group_sizes(train_labels, train_strata[col])
        rec = worst_group_metrics(labels, test.probs, ids[order], train_group_sizes=sizes)
        out.append({**_ids(task, model, seed, col), "stratum_column": col, **_flat(rec)})
    return out


def method_job(task_id: str, model: dict, method: dict, seed: int, embedding: str,
               n_slices: int, random_state: int | None = None) -> list[dict]:
    """Run one discovery method (fit on val, predict on test) and score it; cached by content hash.

    ``n_slices`` is the suite's slice budget, passed to every method; ``random_state`` is the
    method's discovery seed (default: ``seed``). Both are part of the cache key and of every record.
    """
    from medstrata.methods import get_method_class

    cls = get_method_class(method["name"])
    state = seed if random_state is None else int(random_state)
    key = result_key(task_id, model, method, seed, embedding, int(n_slices), state)
    cached = paths.cache_dir() / "results" / f"{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    records = _run_and_score(task_id, model, method, cls, seed, embedding, int(n_slices), state)
    for r in records:
        r["result_id"] = key
    _atomic_json(cached, records)
    return records


def _discover(cls, method: dict, task: Task, val: Problem, test: Problem, n_slices: int, state: int,
              column: str | None = None):
    """(n_test, n_slices) slice scores; raises if the method ignores the budget."""
    params = dict(method.get("params", {}))
    if "n_slices" in params or "random_state" in params:
        raise ValueError(f"method {method['name']}: n_slices and random_state are set by the suite, "
                         "not by the method config")
    if cls.is_oracle:
        params["truth"] = dict(zip(task.manifest.sample_id, task.manifest[column]))
    scores = cls(n_slices=n_slices, random_state=state, **params).fit(val).predict_proba(test)
    if scores.shape != (test.n, n_slices):
        raise ValueError(f"method {method['name']} returned scores of shape {scores.shape}; the suite's "
                         f"slice budget asks for ({test.n}, {n_slices})")
    return scores


def result_key(task_id: str, model: dict, method: dict, seed: int, embedding: str, n_slices: int,
               state: int) -> str:
    """Cache key (and ``result_id``) of one method result: task, model, method name, resolved params,
    the method's own ``version``, the distribution that provides it and that distribution's version
    (``medstrata`` for built-ins; a plug-in's own), seed, embedding, slice budget, discovery random
    state and scorer version."""
    from medstrata.methods import get_method_class, method_package

    cls = get_method_class(method["name"])
    package, package_version = method_package(method["name"])
    parts = {"task": task_id, "model": model["model_id"], "method": method["name"],
             "params": method.get("params", {}), "version": cls.version, "seed": seed,
             "embedding": embedding, "scorer": SCORER_VERSION, "package": package,
             "package_version": package_version, "n_slices": int(n_slices), "random_state": int(state)}
    if cls.needs_identification_model:
        parts["id_model"] = model["id_model_id"]
    return content_hash(parts)


def declared_stratum_ids(task: Task, column: str) -> list[int]:
    """Stratum ids >= 1 of ``column`` in any split of the task (the ids the task declares)."""
    return sorted(int(i) for i in np.unique(task.manifest[column].to_numpy()) if i >= 1)


def _run_and_score(task_id: str, model: dict, method: dict, cls, seed: int, embedding: str,
                   n_slices: int, state: int) -> list[dict]:
    """Fit on val, predict on test, score against every stratum column (split-half matching). The
    oracle is fit once per column (its truth is that column), so on a multi-stratum task it is an
    upper bound for each."""
    from medstrata.scoring import cell_bootstrap_weights, score_split_half, split_halves

    task = _load_task(task_id)
    val, test = problem(model["model_dir"], "val", embedding), problem(model["model_dir"], "test", embedding)
    if cls.needs_identification_model:
        from medstrata.models.identification import attach

        val, test = attach(val, model["id_model_dir"], "val"), attach(test, model["id_model_dir"], "test")
    order = _align(task, "test", test.sample_ids)
    half = split_halves(test.sample_ids, task_id)
    weights = cell_bootstrap_weights(test.sample_ids, f"{task_id}/{model['model_id']}")
    records, scores = [], None
    for col, ids in strata_of(task, "test").items():
        if cls.is_oracle or scores is None:
            t0 = time.perf_counter()
            scores = _discover(cls, method, task, val, test, n_slices, state, col)
            wall = time.perf_counter() - t0
        rows = score_split_half(scores, ids[order], half, declared_stratum_ids(task, col), weights)
        for rec in rows:
            records.append({**_ids(task, model, seed, col), "method": method["name"], "method_version": cls.version,
                            "is_oracle": bool(cls.is_oracle), "is_control": bool(cls.is_control),
                            "random_state": state, "embedding": embedding, "stratum_column": col,
                            "method_params": json.dumps(method.get("params", {}), sort_keys=True),
                            "prevalence": float(np.mean(ids[order] == rec["stratum_id"])),
                            "wall_s": wall, **_flat(rec)})
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


def _ids(task: Task, model: dict, seed: int, column: str | None = None) -> dict:
    """Identity fields of a record; ``kind``/``stratum_params`` are those of ``column``'s stratum
    (the first stratum when None). ``task_strata`` names every stratum of the task, ``target`` its target."""
    spec = task.info["spec"]
    by_col = {f"stratum_{s['kind']}": s for s in spec["strata"]}
    stratum = by_col.get(column) or (spec["strata"][0] if spec["strata"] else {"kind": "none", "params": {}})
    return {"task_id": task.task_id, "dataset": spec["dataset"], "target": spec["target"]["kind"],
            "task_strata": "+".join(s["kind"] for s in spec["strata"]), "kind": stratum["kind"],
            "stratum_params": json.dumps(stratum["params"], sort_keys=True), "model_id": model["model_id"],
            "seed": seed, "medstrata_version": __version__}


def _flat(rec: dict) -> dict:
    """Scalars as they are, other values as JSON text; ``ap_boot`` stays a list of floats."""
    return {k: (v if isinstance(v, (int, float, str, bool)) or v is None or k == "ap_boot"
                else json.dumps(v, default=str)) for k, v in rec.items()}


def _atomic_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=float)
    os.replace(tmp, path)
