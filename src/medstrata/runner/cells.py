"""The job model of a run: one **cell job** per (task cell, seed), named by the hash of its inputs.

A suite expands (:func:`medstrata.runner.app.plan`) into a deterministic list of cells. Each cell
job is a pure function of content-hashed inputs and does, for its (task, seed):
build the task -> train the reference model (+ JTT's identification model where a method reads it)
-> its embeddings -> every discovery method (``discovery_states`` random states) -> score ->
the mitigation heads of the cell. Every one of these steps goes through the existing caches
(``tasks/``, ``cache/models``, ``cache/results``, ``cache/mitigation``: content-hashed, SHA-256
checked, written under locks), so shared work is done once per key whichever worker asks first.

The cell's outputs (flat records that carry every id, its validity measures and the slice scores of
its method results) go into its own folder ``<work dir>/jobs/<job name>/``; a ``done.json`` marker
(written atomically, with the SHA-256 of the records) is written last. A rerun skips every job whose
marker checks out and redoes the others; :mod:`medstrata.runner.collect` builds the run's tables
from the job folders alone, whatever engine ran the jobs.

Why the (task, seed) cell is the unit: it is the smallest unit whose steps all depend on one task
and one model, so two workers never wait on each other's model locks, and every number in it is a
function of its inputs only (no state crosses cells), which keeps a distributed run equal to the
sequential one. Gates (``suite.gates=exclude``) need every seed of a task, so they are applied at
collection: a cell of an excluded task still runs its methods (wasted work, never a wrong number).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from medstrata import __version__, integrity, interrupt, locks, memory, paths
from medstrata.hashing import content_hash

PLAN = "plan.json"
DONE = "done.json"
RECORDS = "records.json"


def job_name(cfg, job: dict[str, Any]) -> str:
    """The cell job's name: 16 hex digits of the content hash of everything its outputs depend on
    (task spec, seed, resolved model spec, methods with versions, slice budget, random states,
    embedding, mitigation strategy and the code versions: package, builder, model training, scorer,
    mitigation strategy and erm). No paths, no times: the same suite gives the same names in any
    process and on any machine."""
    from medstrata import BUILDER_VERSION
    from medstrata.models.cache import CODE_VERSION
    from medstrata.runner import jobs as J
    from medstrata.runner import mitigation as M
    from medstrata.runner.preflight import resolved_model
    from medstrata.runner.runner import method_descriptions, slice_budget

    strategy = M.strategy_of(cfg.suite)

    parts = {"dataset": job["dataset"], "strata": [[k, dict(p)] for k, p in job["strata"]],
             "target": job.get("target"), "seed": int(job["seed"]), "size": int(cfg.suite.get("size", 28)),
             "model": resolved_model(cfg, job), "methods": method_descriptions([job]),
             "n_slices": slice_budget(cfg.suite), "states": int(cfg.suite.get("discovery_states", 1)),
             "embedding": str(cfg.embedding), "mitigation": strategy or "none",
             "versions": [__version__, BUILDER_VERSION, CODE_VERSION, J.SCORER_VERSION,
                          M.code_versions(strategy) if strategy else M.MITIGATION_VERSION]}
    return content_hash(parts)[:16]


def write_plan(work: Path, name: str, cfg_dict: dict, jobs: list[dict[str, Any]]) -> None:
    """``<work>/plan.json``: the run's name, its resolved config and its jobs (each with ``name``),
    written atomically. A plan with other jobs (the code's scorer or mitigation version changed,
    which the run name does not hash) is replaced; job folders of other names are never read."""
    import sys

    plan = {"run": name, "config": cfg_dict, "jobs": jobs}
    data = json.dumps(plan, sort_keys=True, indent=1).encode()
    path = work / PLAN
    if path.is_file() and integrity.problem(path) is None:
        if path.read_bytes() == data:
            return
        print(f"{path}: the run's jobs changed; replacing its plan (finished jobs of the same name are kept)",
              file=sys.stderr)
    integrity.write_verified(path, data)


def read_plan(work: Path) -> dict:
    """The plan of a work folder (SHA-256 checked); a clear error when it is missing or edited."""
    from medstrata.errors import SpecError

    path = Path(work) / PLAN
    why = integrity.problem(path)
    if why is not None:
        raise SpecError(f"{path}: {why}; not a run's work folder (made by `medstrata run`)")
    return json.loads(path.read_text())


def job_dir(work: Path, name: str) -> Path:
    return Path(work) / "jobs" / name


def not_done(folder: Path) -> str | None:
    """Why the job in ``folder`` is not done ("missing" when it never finished; a file whose
    SHA-256 does not check out; a marker that names other records), or None when it is done."""
    for name in (DONE, RECORDS):
        why = integrity.problem(folder / name)
        if why is not None:
            return "missing" if why == "missing" and name == DONE else f"{name}: {why}"
    done = json.loads((folder / DONE).read_text())
    if done.get("records_sha256") != (folder / (RECORDS + integrity.SUFFIX)).read_text().strip():
        return f"{DONE} names other records than {RECORDS}"
    return None


def is_done(folder: Path) -> bool:
    """True when ``folder``'s ``done.json`` and ``records.json`` check out and agree."""
    return not_done(folder) is None


def read_records(folder: Path) -> dict:
    """The outputs of a finished cell job (see :func:`run_cell`) plus ``done`` (its marker)."""
    return {**json.loads((folder / RECORDS).read_text()), "done": json.loads((folder / DONE).read_text())}


def ensure_cell(work: Path, cfg, job: dict[str, Any], invocation: str = "") -> bool:
    """Run cell ``job`` into its folder unless it is done; True when this call ran it. Holds the
    job's lock, so two engines on one work folder never run one job twice at the same time.
    ``invocation``: a token of the command that launched it, recorded in ``done.json`` (``by``) so
    that a run reports how many models *it* trained."""
    folder = job_dir(work, job["name"])
    if is_done(folder):
        return False
    with locks.hold(f"job-{job['name']}"):
        if is_done(folder):
            return False
        out = run_cell(cfg, job)
        _publish(folder, out, invocation)
    memory.release()  # one process runs many cells: keep each cell's freed heap from adding up
    return True


def run_cell(cfg, job: dict[str, Any]) -> dict:
    """Every step of one (task, seed) cell, in the order of the sequential run.

    Returns {job, model (model record), reference (worst-group records), measures (validity
    records of this seed), results (flat method records), mitigation_refs, mitigation_rows,
    wall_s}; ``results[i]["result_id"]`` names each method result.
    """
    from medstrata.runner import jobs as J
    from medstrata.runner import mitigation as M
    from medstrata.runner.runner import discover, needs_identification
    from medstrata.validity import card as C

    t0 = time.perf_counter()
    job = dict(job)
    embedding = str(cfg.embedding)
    job["task_id"] = J.task_job(job["dataset"], job["strata"], job["seed"], job.get("target"),
                                int(cfg.suite.get("size", 28)))
    interrupt.check()
    spec = {**dict(cfg.suite.get("model", {})), **job.get("model", {})}
    model = J.model_job(job["task_id"], spec, job["seed"], progress=False,
                        encoders=tuple(dict.fromkeys(("penultimate", embedding))))
    if needs_identification(job["methods"]):
        model.update(J.identification_job(job["task_id"], spec, job["seed"]))
    memory.release()  # training's freed batches back to the OS before the methods allocate theirs
    reference = J.reference_record(job["task_id"], model, job["seed"], embedding)
    measures = C.measure_seed(job["task_id"], model["model_dir"])
    results = discover(cfg, [job], {job["task_id"]: model}, progress=False)
    refs, rows = M.cell_mitigation(results, job, model, cfg)
    return {"job": job, "model": model, "reference": reference, "measures": measures, "results": results,
            "mitigation_refs": refs, "mitigation_rows": rows, "wall_s": time.perf_counter() - t0}


def _publish(folder: Path, out: dict, invocation: str) -> None:
    """Slice scores, then ``records.json``, then the ``done.json`` marker, each written atomically."""
    from medstrata.runner import jobs as J

    (folder / "slices").mkdir(parents=True, exist_ok=True)
    for rid in sorted({r["result_id"] for r in out["results"]}):
        src = J.slices_path(paths.cache_dir() / "results" / f"{rid}.json")
        integrity.write_verified(folder / "slices" / f"{rid}.npz", src.read_bytes())
    data = json.dumps(out, default=_jsonable).encode()  # key order = column order of the tables
    integrity.write_verified(folder / RECORDS, data)
    sha = (folder / (RECORDS + integrity.SUFFIX)).read_text().strip()
    done = {"name": out["job"]["name"], "records_sha256": sha, "wall_s": out["wall_s"],
            "trained": bool(out["model"]["trained"]), "by": invocation}
    integrity.write_verified(folder / DONE, json.dumps(done, sort_keys=True).encode())


def _jsonable(value):
    """numpy scalars and arrays -> Python numbers and lists (the cache's own ``default=float``
    covers scalars only)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")
