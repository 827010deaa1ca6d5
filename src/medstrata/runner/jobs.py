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
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from medstrata import __version__, integrity, paths
from medstrata.hashing import content_hash
from medstrata.models.train import for_image_kind
from medstrata.problem import Problem, Renaming
from medstrata.tasks.store import Task, load_task

#: Part of every method-result cache key: bump when scoring changes the numbers of a stored result.
SCORER_VERSION = "4"  # 4: + worst_slice_acc, slice scores kept beside each result; 2: expected P@k, split-half matching, unassigned rows, AP replicates; 3: + target/task_strata, oracle per stratum column


def _load_task(task_id: str) -> Task:
    """The task, read once per process per (home, id, build): the cache key holds MEDSTRATA_HOME and
    the identity of ``build_info.json``, so a rebuilt task or another home is never served stale."""
    from medstrata.tasks.store import task_dir

    info = (task_dir(task_id) / "build_info.json").stat()
    return _load_task_cached(str(paths.home()), task_id, info.st_ino, info.st_mtime_ns)


@lru_cache(maxsize=4)
def _load_task_cached(home: str, task_id: str, inode: int, mtime_ns: int) -> Task:
    return load_task(task_id, check=False)  # checked by task_job just before


def _source(flag: str, size: int):
    """The official source, loaded and checksummed once per process per (data root, flag, size)."""
    return _source_cached(str(paths.data_root()), flag, int(size))


@lru_cache(maxsize=8)
def _source_cached(root: str, flag: str, size: int):
    from medstrata.data.source import load_source

    return load_source(flag, size)


def task_job(dataset: str, strata: list[tuple[str, dict]], seed: int, target: str | None = None,
             size: int = 28) -> str:
    """Build (or reuse) the task; returns its id. The source is loaded and checksummed once per run.

    ``strata`` is the list of ``(kind, params)`` in the order given; ``target`` None = dataset default.
    A cached task is used only if its files match the SHA-256 in its ``build_info.json``; otherwise
    the mismatch is reported by path and the task is rebuilt. Building holds the task's lock.
    """
    from medstrata import locks
    from medstrata.tasks.build import build_task
    from medstrata.tasks.spec import resolve_spec
    from medstrata.tasks.store import save_task, task_dir, task_problem

    spec = resolve_spec(dataset, size, seed, target, [(k, dict(p)) for k, p in strata])
    source = _source(dataset, size)
    task_id = spec.task_id(source.sha256)
    with locks.hold(f"task-{task_id}"):
        why = task_problem(task_dir(task_id))
        if why is not None:
            if task_dir(task_id).exists():
                integrity.report(task_dir(task_id), why, "rebuilding")
            save_task(build_task(spec, source), overwrite=True)
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


def model_job(task_id: str, model_spec: dict, seed: int, progress: bool,
              encoders: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Train (or reuse) the reference model and its outputs; returns {model_id, model_dir, wall_s, trained}.

    ``trained`` is True only when this call trained the model (a concurrent run that waited for the
    model's lock and then reused it reports False). ``encoders``: the embeddings to write for every
    split (default: ``DEFAULT_ENCODERS``); a run asks only for the penultimate features and its own
    embedding (the pixel PCA of every model cost ~3 s a model), and a later call fills in others."""
    from medstrata.models.outputs import DEFAULT_ENCODERS, ensure_reference

    task = _load_task(task_id)
    t0 = time.perf_counter()
    splits = {s: split_arrays(task, s) for s in ("train", "val", "test")}
    spec = for_image_kind(model_spec, splits["train"].kind, task.info["spec"]["dataset"])
    model_dir, trained = ensure_reference(task_id, splits, len(task.class_names), spec, seed,
                                          encoders or DEFAULT_ENCODERS, progress=progress)
    return {"model_id": model_dir.name[:16], "model_dir": str(model_dir), "wall_s": time.perf_counter() - t0,
            "trained": trained}


def identification_job(task_id: str, model_spec: dict, seed: int) -> dict[str, str]:
    """Train (or reuse) JTT's identification model (see :mod:`medstrata.models.identification`);
    returns {id_model_id, id_model_dir}, to be merged into the model record of the task."""
    from medstrata.models.identification import identification_outputs

    task = _load_task(task_id)
    splits = {s: split_arrays(task, s) for s in ("train", "val", "test")}
    spec = for_image_kind(model_spec, splits["train"].kind, task.info["spec"]["dataset"])
    model_dir = identification_outputs(task_id, splits, len(task.class_names), spec, seed)
    return {"id_model_id": model_dir.name[:16], "id_model_dir": str(model_dir)}


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
               n_slices: int, random_state: int | None = None, rename: Renaming | None = None) -> list[dict]:
    """Run one discovery method (fit on val, predict on test) and score it; cached by content hash.

    ``n_slices`` is the suite's slice budget, passed to every method; ``random_state`` is the
    method's discovery seed (default: ``seed``). Both are part of the cache key and of every record.
    The cached JSON is used only if it matches its recorded SHA-256 (:mod:`medstrata.integrity`);
    a truncated or edited file is reported by path and recomputed. Computing holds the result's lock.

    ``rename`` (the leaderboard's private tier): the method sees its Problems through this
    :class:`~medstrata.problem.Renaming` (other ids, other row order); the scorer still joins by the
    real ids. Its ``key`` joins the cache key; without it, keys and records are those of a plain run.
    """
    from medstrata import locks
    from medstrata.methods import get_method_class

    cls = get_method_class(method["name"])
    state = seed if random_state is None else int(random_state)
    key = result_key(task_id, model, method, seed, embedding, int(n_slices), state,
                     None if rename is None else rename.key)
    cached = paths.cache_dir() / "results" / f"{key}.json"
    records = _read_result(cached, key)
    if records is not None:
        return records
    with locks.hold(f"result-{key}"):
        records = _read_result(cached, key, quiet=True)  # a concurrent run may have written it
        if records is None:
            records, sample_ids, outputs = _run_and_score(task_id, model, method, cls, seed, embedding,
                                                          int(n_slices), state, rename)
            for r in records:
                r["result_id"] = key
            integrity.write_verified(slices_path(cached), slices_bytes(sample_ids, outputs))
            integrity.write_verified(cached, json.dumps(records, default=float).encode())
    return records


def slices_path(result_json: Path) -> Path:
    """``<result id>.slices.npz`` beside a result's JSON: the method's test slice scores."""
    return result_json.with_name(result_json.name[: -len(".json")] + ".slices.npz")


def slices_bytes(sample_ids: np.ndarray, outputs: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` (no pickled objects) of (n_test,) ``sample_ids`` and, per stratum column,
    ``scores/<column>`` = (n_test, k) float64 slice scores."""
    import io

    buf = io.BytesIO()
    arrays = {"sample_ids": np.asarray(sample_ids, dtype=str)}
    arrays.update({f"scores/{col}": np.asarray(v, dtype=np.float64) for col, v in outputs.items()})
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_slices(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(sample_ids, {column: (n_test, k) scores})`` of a ``.slices.npz`` (never unpickles)."""
    with np.load(path, allow_pickle=False) as z:
        return z["sample_ids"], {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("scores/")}


def _read_result(path: Path, key: str, quiet: bool = False) -> list[dict] | None:
    """The records of a cached result, or None (reported by path unless missing or ``quiet``)."""
    why = integrity.problem(path)
    if why is None:
        slices_why = integrity.problem(slices_path(path))
        why = None if slices_why is None else f"its slice scores {slices_path(path).name}: {slices_why}"
    if why is None:
        try:
            records = json.loads(path.read_text())
            if isinstance(records, list) and all(isinstance(r, dict) and r.get("result_id") == key for r in records):
                return records
            why = "its records do not carry this result id"
        except ValueError as exc:
            why = f"not valid JSON ({exc})"
    if why != "missing" and not quiet:
        integrity.report(path, why)
    return None


def _discover(cls, method: dict, task: Task, val: Problem, test: Problem, n_slices: int, state: int,
              column: str | None = None, rename: Renaming | None = None):
    """(n_test, n_slices) slice scores from :func:`medstrata.methods.run_method` (which checks the
    shape, finiteness and range), rows in ``test``'s order; the oracle control gets the truth of
    ``column``. With ``rename`` the method sees renamed Problems (see :func:`method_job`)."""
    from medstrata.methods import run_method

    given = dict(method.get("params", {}))
    if "n_slices" in given or "random_state" in given:
        raise ValueError(f"method {method['name']}: n_slices and random_state are set by the suite, "
                         "not by the method config")
    params = {**given, "n_slices": n_slices, "random_state": state}
    if cls.is_oracle:
        truth = dict(zip(task.manifest.sample_id, task.manifest[column]))
        params["truth"] = truth if rename is None else rename.truth(truth)
    if rename is None:
        return run_method(method["name"], params, val, test)
    return rename.restore(run_method(method["name"], params, rename.problem(val), rename.problem(test)), test)


def result_key(task_id: str, model: dict, method: dict, seed: int, embedding: str, n_slices: int,
               state: int, rename: str | None = None) -> str:
    """Cache key (and ``result_id``) of one method result: task, model, method name, resolved params,
    the method's own ``version``, the distribution that provides it and that distribution's version
    (``medstrata`` for built-ins; a plug-in's own), seed, embedding, slice budget, discovery random
    state and scorer version; plus ``rename`` (a :class:`~medstrata.problem.Renaming` key) when given."""
    from medstrata.methods import get_method_class, method_package

    cls = get_method_class(method["name"])
    package, package_version = method_package(method["name"])
    parts = {"task": task_id, "model": model["model_id"], "method": method["name"],
             "params": method.get("params", {}), "version": cls.version, "seed": seed,
             "embedding": embedding, "scorer": SCORER_VERSION, "package": package,
             "package_version": package_version, "n_slices": int(n_slices), "random_state": int(state)}
    if cls.needs_identification_model:
        parts["id_model"] = model["id_model_id"]
    if rename is not None:
        parts["rename"] = rename
    return content_hash(parts)


def declared_stratum_ids(task: Task, column: str) -> list[int]:
    """Stratum ids >= 1 of ``column`` in any split of the task (the ids the task declares)."""
    return sorted(int(i) for i in np.unique(task.manifest[column].to_numpy()) if i >= 1)


def _run_and_score(task_id: str, model: dict, method: dict, cls, seed: int, embedding: str,
                   n_slices: int, state: int, rename: Renaming | None = None
                   ) -> tuple[list[dict], np.ndarray, dict[str, np.ndarray]]:
    """Fit on val, predict on test, score against every stratum column (split-half matching).

    Returns ``(records, sample_ids, outputs)``: the test outputs' (n_test,) sample ids and
    {stratum column: (n_test, k) slice scores in that order}. The oracle is fit once per column (its truth is that
    column), so on a multi-stratum task it is an upper bound for each; other methods once."""
    task = _load_task(task_id)
    val, test = problem(model["model_dir"], "val", embedding), problem(model["model_dir"], "test", embedding)
    if cls.needs_identification_model:
        from medstrata.models.identification import attach

        val, test = attach(val, model["id_model_dir"], "val"), attach(test, model["id_model_dir"], "test")
    outputs, walls, scores = {}, {}, None
    for col in task.stratum_columns():
        if cls.is_oracle or scores is None:
            t0 = time.perf_counter()
            scores = _discover(cls, method, task, val, test, n_slices, state, col, rename)
            wall = time.perf_counter() - t0
        outputs[col], walls[col] = scores, wall
    meta = {"method": method["name"], "method_version": cls.version, "is_oracle": bool(cls.is_oracle),
            "is_control": bool(cls.is_control), "random_state": state, "embedding": embedding,
            "method_params": json.dumps(method.get("params", {}), sort_keys=True)}
    return score_outputs(task, model, seed, meta, test, outputs, walls), test.sample_ids, outputs


def score_outputs(task: Task, model: dict, seed: int, meta: dict, test: Problem,
                  outputs: dict[str, np.ndarray], walls: dict[str, float] | None = None) -> list[dict]:
    """The pinned scorer: flat records of one method on one (task, seed) cell.

    Args:
        task: the task (its manifest holds the true strata and the clean labels).
        model: {model_id, ...} of the reference model whose test outputs ``test`` are.
        meta: method fields of every record (method, method_version, is_oracle, is_control,
            random_state, embedding, method_params).
        test: the reference model's test outputs (sample ids, probs, clean labels).
        outputs: {stratum column: (n_test, k) slice scores in the order of ``test.sample_ids``}.
        walls: optional {column: seconds of discovery}; NaN when absent (scored from a file).

    Split-half AP and friends (:func:`medstrata.scoring.score_split_half`, halves and bootstrap
    weights keyed by the task and model ids) plus ``worst_slice_acc``. ``medstrata run`` and the
    leaderboard both score through this function, so their numbers are the same.
    """
    from medstrata.scoring import cell_bootstrap_weights, score_split_half, split_halves
    from medstrata.scoring.slice_acc import worst_slice_accuracy

    order = _align(task, "test", test.sample_ids)
    half = split_halves(test.sample_ids, task.task_id)
    weights = cell_bootstrap_weights(test.sample_ids, f"{task.task_id}/{model['model_id']}")
    correct = test.probs.argmax(axis=1) == test.labels
    records = []
    for col, ids in strata_of(task, "test").items():
        scores = outputs[col]
        rows = score_split_half(scores, ids[order], half, declared_stratum_ids(task, col), weights)
        worst = worst_slice_accuracy(scores, correct)
        for rec in rows:
            records.append({**_ids(task, model, seed, col), **meta, "stratum_column": col,
                            "prevalence": float(np.mean(ids[order] == rec["stratum_id"])),
                            "wall_s": float((walls or {}).get(col, float("nan"))),
                            "worst_slice_acc": worst, **_flat(rec)})
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
