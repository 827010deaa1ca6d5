"""Execute a planned run: tasks -> reference models -> discovery methods -> scores -> report.

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


def execute(cfg, planned: list[dict[str, Any]], cfg_dict: dict) -> Path:
    t_start = time.perf_counter()
    progress = bool(cfg.progress)
    embedding = str(cfg.embedding)
    methods = _resolved_methods(planned)
    run_id = content_hash({"config": cfg_dict, "version": __version__, "methods": methods,
                           "models": _resolved_models(cfg, planned)})[:12]
    folder = paths.runs_dir() / f"{cfg.suite.name}-{run_id}"
    sweep_stale_temps()

    models = build_and_train(cfg, planned, progress)
    reference = [r for job in planned
                 for r in J.reference_record(job["task_id"], models[job["task_id"]], job["seed"], embedding)]
    mode = str(cfg.suite.get("gates", "exclude"))
    cards = V.cards_for_run(planned, models)
    excluded = V.announce(cards, mode)
    kept = [job for job in planned if V.cell_key(job) not in excluded]
    results = pd.DataFrame(discover(cfg, kept, models, progress))
    results, mitigation_refs = M.attach_mitigation(results, kept, models, cfg, progress)
    V.attach_recover(cards, kept, results)
    V.attach_dose(cards)
    kept_ids = {job["task_id"] for job in kept}
    ref = pd.DataFrame([r for r in reference if r["task_id"] in kept_ids])
    with publishing(folder) as tmp:
        V.write(tmp, cards, str(cfg.suite.name), mode, excluded)
        if not results.empty:
            _save(tmp, folder.name, results, ref, cfg, t_start, models, [cards[k]["cell"] for k in sorted(excluded)])
            M.save(tmp, results, mitigation_refs, cfg)
            V.append_to_summary(tmp)
    if results.empty:
        raise SpecError(f"every task of suite {cfg.suite.name} failed the validity gates; see {folder / 'validity.md'}")
    return folder


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
        if _needs_identification(job["methods"]):
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


def _needs_identification(methods: list[dict[str, Any]]) -> bool:
    """True when a method of the job reads JTT's identification model (``Problem.id_probs``)."""
    from medstrata.methods import get_method_class

    return any(get_method_class(m["name"]).needs_identification_model for m in methods)


def _resolved_models(cfg, planned: list[dict[str, Any]]) -> list[str]:
    """Sorted resolved reference-model specs of the run's datasets (code defaults included, e.g.
    a dataset's recipe default): part of the run id, so a recipe change gives a new run folder."""
    from medstrata.runner.preflight import resolved_model

    return sorted({json.dumps({"dataset": job["dataset"], "spec": resolved_model(cfg, job)}, sort_keys=True)
                   for job in planned})


def _resolved_methods(planned: list[dict[str, Any]]) -> list[str]:
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


def _save(folder: Path, name: str, results: pd.DataFrame, ref: pd.DataFrame, cfg, t_start: float, models: dict,
          excluded: list[str]) -> None:
    """Write the run's tables, plots and summary into ``folder`` (the temp folder of run ``name``)."""
    metric = str(cfg.suite.primary_metric)
    results = results.assign(run_id=name)
    flat = results.drop(columns=["ap_boot"], errors="ignore")
    flat.to_parquet(folder / "results.parquet", index=False)
    flat.to_csv(folder / "results.csv", index=False)
    if "ap_boot" in results:
        keys = ["result_id", "stratum_column", "stratum_id"]
        results[keys + ["ap_boot"]].to_parquet(folder / "replicates.parquet", index=False)
    _copy_slices(folder, results["result_id"].unique())
    ref.to_parquet(folder / "reference.parquet", index=False)
    ref.to_csv(folder / "reference.csv", index=False)
    ranking = report.ranked_table(results, metric)
    trained = sum(1 for m in models.values() if m["trained"])
    cells = report.add_cell(results)
    header = {"run": name, "medstrata": __version__,
              "tasks (dataset × kind × setting)": cells.cell.nunique(),
              "seeds": sorted(int(s) for s in results.seed.unique()),
              "task × seed cells": results.task_id.nunique(),
              "methods": f"{results.method.nunique()} ({int(ranking[0].role.eq('ranked').sum())} ranked, "
                         f"{int(ranking[0].role.eq('control').sum())} controls)",
              "slice budget n_slices": slice_budget(cfg.suite),
              "discovery random states per model": int(cfg.suite.get("discovery_states", 1)),
              "models trained this run": f"{trained} of {len(models)} (others from cache)",
              "wall time": f"{time.perf_counter() - t_start:.1f} s", "embedding": str(cfg.embedding),
              "validity": "validity.md (harm, shortcut, PCA probe, error share, recovery, dose-response)",
              "excluded by the validity gates": "; ".join(excluded) or "none"}
    plots = [(f"recovery_{metric}.png", f"{metric} per method and stratum kind, error bars = std over seeds"),
             ("recovery_p_at_10.png", "the same for p_at_10 (split-half)")]
    report.plot_recovery(results, metric, folder / plots[0][0])
    report.plot_recovery(results, "p_at_10", folder / plots[1][0])
    if report.plot_dose_response(results, metric, folder / "dose_response.png"):
        plots.append(("dose_response.png", f"{metric} against the severity knob, one panel per kind"))
    report.write_markdown(folder / "summary.md", cfg.suite.name, metric, ranking, results, ref, header, plots)
    print(f"\nMedStrata {cfg.suite.name}: ranking by {metric} ({len(models)} task×seed cells, "
          f"{results.method.nunique()} methods, {time.perf_counter() - t_start:.1f} s)")
    print(report.format_table(ranking[0], metric))
    print("\nReference models, test (mean over seeds):")
    print(report.reference_table(ref).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _copy_slices(folder: Path, result_ids) -> None:
    """``slices/<result id>.npz``: each method result's test slice scores, copied from the cache so
    that ``medstrata export-submission`` needs nothing but the run folder."""
    out = folder / "slices"
    out.mkdir()
    for rid in sorted(result_ids):
        shutil.copyfile(J.slices_path(paths.cache_dir() / "results" / f"{rid}.json"), out / f"{rid}.npz")
