"""Execute a planned run: tasks -> reference models -> discovery methods -> scores -> report.

Every step is cached by content hash (tasks by task id, models by task id + model spec + seed,
method results by task + model + method + version + seed + embedding), so a rerun is cheap and an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from medstrata import __version__, paths
from medstrata.bench import jobs as J
from medstrata.bench import report
from medstrata.hashing import content_hash


def execute(cfg, planned: list[dict[str, Any]], cfg_dict: dict) -> Path:
    t_start = time.perf_counter()
    progress = bool(cfg.progress)
    model_spec = dict(cfg.suite.get("model", {}))
    embedding = str(cfg.embedding)
    methods = _resolved_methods(planned)
    run_id = content_hash({"config": cfg_dict, "version": __version__, "methods": methods})[:12]
    folder = paths.runs_dir() / f"{cfg.suite.name}-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)

    for job in tqdm(planned, desc="build tasks", disable=not progress):
        job["task_id"] = J.task_job(job["dataset"], job["kind"], job["params"], job["seed"])
    models, reference = {}, []
    for job in tqdm(planned, desc="reference models", disable=not progress):
        model = J.model_job(job["task_id"], model_spec, job["seed"], progress=False)
        if _needs_identification(job["methods"]):
            model.update(J.identification_job(job["task_id"], model_spec, job["seed"]))
        models[job["task_id"]] = model
        reference += J.reference_record(job["task_id"], model, job["seed"], embedding)
    records = []
    pairs = [(job, m) for job in planned for m in job["methods"]]
    for job, method in tqdm(pairs, desc="discovery methods", disable=not progress):
        records += J.method_job(job["task_id"], models[job["task_id"]], method, job["seed"], embedding)
    results = pd.DataFrame(records)
    ref = pd.DataFrame(reference)
    _save(folder, results, ref, cfg, t_start, models)
    return folder


def _needs_identification(methods: list[dict[str, Any]]) -> bool:
    """True when a method of the job reads JTT's identification model (``Problem.id_probs``)."""
    from medstrata.methods import get_method_class

    return any(get_method_class(m["name"]).needs_identification_model for m in methods)


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


def _save(folder: Path, results: pd.DataFrame, ref: pd.DataFrame, cfg, t_start: float, models: dict) -> None:
    metric = str(cfg.suite.primary_metric)
    results = results.assign(run_id=folder.name)
    results.to_parquet(folder / "results.parquet", index=False)
    results.to_csv(folder / "results.csv", index=False)
    ref.to_parquet(folder / "reference.parquet", index=False)
    ref.to_csv(folder / "reference.csv", index=False)
    table = report.ranked_table(results, metric)
    trained = sum(1 for m in models.values() if m["trained"])
    header = {"run": folder.name, "medstrata": __version__, "tasks": results.task_id.nunique(),
              "seeds": sorted(int(s) for s in results.seed.unique()), "methods": results.method.nunique(),
              "models trained this run": f"{trained} of {len(models)} (others from cache)",
              "wall time": f"{time.perf_counter() - t_start:.1f} s", "embedding": str(cfg.embedding)}
    report.write_markdown(folder / "summary.md", cfg.suite.name, metric, table, results, ref, header)
    report.plot_recovery(results, metric, folder / f"recovery_{metric}.png")
    report.plot_recovery(results, "ap", folder / "recovery_ap.png")
    if report.plot_dose_response(results, metric, folder / "dose_response.png"):
        header["dose-response"] = "dose_response.png"
    print(f"\nMedStrata {cfg.suite.name}: ranking by {metric} ({len(models)} task×seed, "
          f"{results.method.nunique()} methods, {time.perf_counter() - t_start:.1f} s)")
    print(report.format_table(table, metric))
    print("\nReference models, test (mean over seeds):")
    print(report.reference_table(ref).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
