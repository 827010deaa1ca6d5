"""Execute a planned run: tasks -> reference models -> discovery methods -> scores -> report.

:func:`execute` runs the plan as (task, seed) cell jobs (:mod:`medstrata.runner.cells`) with an
engine (:mod:`medstrata.runner.engines`) and collects the run folder from the job folders
(:mod:`medstrata.runner.collect`); :func:`build_and_train` and :func:`discover` are the in-process
steps that a cell job and the leaderboard's private tier reuse.

The validity card of every task (on val) is measured right after the reference models, and a task
that fails a gate is left out (suite key ``gates``, see :mod:`medstrata.validity.run`).

Every step is cached by content hash (tasks by task id, models by task id + model spec + seed,
method results by task + model + method + version + seed + embedding + slice budget + discovery
random state), so a rerun is cheap and an interrupted run resumes where it stopped.

Suite keys read here: ``n_slices`` (the slice budget every method gets; required),
``mitigation`` (a registered mitigation strategy, default ``group_dro``, or ``none``: see
:mod:`medstrata.runner.mitigation`), ``discovery_states`` (how many discovery ``random_state`` values each method runs per trained
model, default 1: ``random_state = seed + 1000 * r`` for r = 0..discovery_states-1; the cell's value
is the mean over them) and ``primary_metric``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from medstrata import __version__, interrupt, locks, paths
from medstrata.runner import jobs as J
from medstrata.runner import mitigation as M
from medstrata.runner import report
from medstrata.errors import SpecError
from medstrata.validity import run as V
from medstrata.hashing import content_hash
from medstrata.problem import Renaming


def execute(cfg, planned: list[dict[str, Any]], cfg_dict: dict, engine: dict | None = None) -> Path:
    """Run the planned cells as jobs (skipping those already done) and collect the run folder.

    The jobs go to ``$MEDSTRATA_HOME/work/<run name>/jobs/<job name>/`` (see
    :mod:`medstrata.runner.cells`); ``engine`` (see :mod:`medstrata.runner.engines`; None = in this
    process, one job after the other) runs them; :func:`medstrata.runner.collect.collect` then
    writes ``runs/<run name>`` from the job folders alone."""
    from medstrata.runner import cells, collect, engines

    t_start = time.perf_counter()
    name = f"{cfg.suite.name}-{run_id(cfg, planned, cfg_dict)}"
    work = paths.home() / "work" / name
    sweep_stale_temps()
    named = [{**job, "name": cells.job_name(cfg, job)} for job in planned]
    work.mkdir(parents=True, exist_ok=True)
    cells.write_plan(work, name, cfg_dict, named)
    print(f"work folder: {work}", file=sys.stderr)
    token = engines.launch(work, cfg, named, engine or {"engine": "inline"})
    return collect.collect(work, t_start, token)


def run_id(cfg, planned: list[dict[str, Any]], cfg_dict: dict) -> str:
    """12 hex digits naming the run: config, package version, resolved methods and models."""
    return content_hash({"config": cfg_dict, "version": __version__, "methods": method_descriptions(planned),
                         "models": _resolved_models(cfg, planned)})[:12]


def build_and_train(cfg, planned: list[dict[str, Any]], progress: bool) -> dict[str, dict]:
    """Build every job's task (sets ``job["task_id"]``) and train or reuse its reference model, plus
    JTT's identification model where a method of the job reads it; returns {task id: model record}."""
    model_spec = dict(cfg.suite.get("model", {}))
    for job in tqdm(planned, desc="build tasks", disable=not progress):
        interrupt.check()
        job["task_id"] = J.task_job(job["dataset"], job["strata"], job["seed"], job.get("target"),
                                    int(cfg.suite.get("size", 28)))
    models = {}
    for job in tqdm(planned, desc="reference models", disable=not progress):
        interrupt.check()
        spec = {**model_spec, **job.get("model", {})}
        model = J.model_job(job["task_id"], spec, job["seed"], progress=False,
                            encoders=tuple(dict.fromkeys(("penultimate", str(cfg.embedding)))))
        if needs_identification(job["methods"]):
            model.update(J.identification_job(job["task_id"], spec, job["seed"]))
        models[job["task_id"]] = model
    trained = sum(1 for m in models.values() if m["trained"])
    print(f"reference models: {trained} trained by this run, {len(models) - trained} reused", file=sys.stderr)
    return models


def discover(cfg, jobs: list[dict[str, Any]], models: dict[str, dict], progress: bool,
             rename: Renaming | None = None) -> list[dict]:
    """Every method of every job, ``discovery_states`` times (``random_state = seed + 1000 r``), fit
    on val and scored on test (:func:`~medstrata.runner.jobs.method_job`; ``rename``: see there)."""
    n_slices, states = slice_budget(cfg.suite), int(cfg.suite.get("discovery_states", 1))
    embedding = str(cfg.embedding)
    records = []
    pairs = [(job, m, r) for job in jobs for m in job["methods"] for r in range(states)]
    for job, method, r in tqdm(pairs, desc="discovery methods", disable=not progress):
        interrupt.check()
        records += J.method_job(job["task_id"], models[job["task_id"]], method, job["seed"], embedding,
                                n_slices=n_slices, random_state=job["seed"] + 1000 * r, rename=rename)
    return records


def sweep_stale_temps() -> None:
    """Remove temp folders and files left by killed builds, trainings, scorings and reports (their
    lock is free); those of a live concurrent run are kept."""
    from medstrata.models.cache import models_root

    for folder, prefix in ((paths.tasks_dir(), "task"), (models_root(), "model"),
                           (paths.cache_dir() / "results", "result"), (paths.runs_dir(), "run"),
                           (paths.cache_dir() / "mitigation", "mitigation")):
        for path in locks.sweep(folder, prefix):
            print(f"removed stale temp {path}", file=sys.stderr)


@contextlib.contextmanager
def publishing(folder: Path):
    """Yield a temp folder beside ``folder``; on success rename it to ``folder`` (replacing an older
    copy), so a run folder is either complete or absent. Holds the folder's lock throughout."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with locks.hold(f"run-{folder.name}"):
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        old = tmp.with_name(tmp.name + ".old")
        try:
            os.chmod(tmp, 0o755)
            yield tmp
            if folder.exists():
                os.replace(folder, old)
            os.replace(tmp, folder)
        finally:
            for leftover in (tmp, old):
                if leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)


def slice_budget(suite) -> int:
    """The suite's ``n_slices`` (int >= 1); a clear error when it is missing or bad."""
    value = suite.get("n_slices")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"suite {suite.get('name')!r} must set n_slices to an int >= 1, got {value!r}")
    return value


def needs_identification(methods: list[dict[str, Any]]) -> bool:
    """True when a method of the job reads JTT's identification model (``Problem.id_probs``)."""
    from medstrata.methods import get_method_class

    return any(get_method_class(m["name"]).needs_identification_model for m in methods)


def _resolved_models(cfg, planned: list[dict[str, Any]]) -> list[str]:
    """Sorted resolved reference-model specs of the run's datasets (code defaults included, e.g.
    a dataset's recipe default): part of the run id, so a recipe change gives a new run folder."""
    from medstrata.runner.preflight import resolved_model

    return sorted({json.dumps({"dataset": job["dataset"], "spec": resolved_model(cfg, job)}, sort_keys=True)
                   for job in planned})


def method_descriptions(planned: list[dict[str, Any]]) -> list[str]:
    """Sorted canonical descriptions (name, params, class version, package and its version) of every
    method the run executes: part of the run id, so runs with different method sets never share a
    folder."""
    from medstrata.methods import get_method_class, method_package

    out = set()
    for m in (m for job in planned for m in job["methods"]):
        package = method_package(m["name"])
        desc = {**m, "version": get_method_class(m["name"]).version, "package": list(package)}
        out.add(json.dumps(desc, sort_keys=True, default=str))
    return sorted(out)
