"""Execute a planned run: tasks -> reference models -> discovery methods -> scores -> report.

The validity card of every task (on val) is measured right after the reference models, and a task
that fails a gate is left out (suite key ``gates``, see :mod:`medstrata.validity.run`).

Every step is cached by content hash (tasks by task id, models by task id + model spec + seed,
method results by task + model + method + version + seed + embedding), so a rerun is cheap and an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from medstrata import __version__, paths
from medstrata.bench import jobs as J
from medstrata.bench import report
from medstrata.errors import SpecError
from medstrata.validity import run as V
from medstrata.hashing import content_hash


def execute(cfg, planned: list[dict[str, Any]], cfg_dict: dict) -> Path:
    t_start = time.perf_counter()
    progress = bool(cfg.progress)
    model_spec = dict(cfg.suite.get("model", {}))
    embedding = str(cfg.embedding)
    run_id = content_hash({"config": cfg_dict, "version": __version__})[:12]
    folder = paths.runs_dir() / f"{cfg.suite.name}-{run_id}"
    folder.mkdir(parents=True, exist_ok=True)

    for job in tqdm(planned, desc="build tasks", disable=not progress):
        job["task_id"] = J.task_job(job["dataset"], job["strata"], job["seed"], job.get("target"))
    models, reference = {}, []
    for job in tqdm(planned, desc="reference models", disable=not progress):
        model = J.model_job(job["task_id"], {**model_spec, **job.get("model", {})}, job["seed"], progress=False)
        models[job["task_id"]] = model
        reference += J.reference_record(job["task_id"], model, job["seed"], embedding)
    mode = str(cfg.suite.get("gates", "exclude"))
    cards = V.cards_for_run(planned, models)
    excluded = V.announce(cards, mode)
    kept = [job for job in planned if V.cell_key(job) not in excluded]
    records = []
    pairs = [(job, m) for job in kept for m in job["methods"]]
    for job, method in tqdm(pairs, desc="discovery methods", disable=not progress):
        records += J.method_job(job["task_id"], models[job["task_id"]], method, job["seed"], embedding)
    results = pd.DataFrame(records)
    V.attach_recover(cards, kept, results)
    V.attach_dose(cards)
    V.write(folder, cards, str(cfg.suite.name), mode, excluded)
    if results.empty:
        raise SpecError(f"every task of suite {cfg.suite.name} failed the validity gates; see {folder / 'validity.md'}")
    kept_ids = {job["task_id"] for job in kept}
    ref = pd.DataFrame([r for r in reference if r["task_id"] in kept_ids])
    _save(folder, results, ref, cfg, t_start, models, [cards[k]["cell"] for k in sorted(excluded)])
    V.append_to_summary(folder)
    return folder


def _save(folder: Path, results: pd.DataFrame, ref: pd.DataFrame, cfg, t_start: float, models: dict,
          excluded: list[str]) -> None:
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
              "wall time": f"{time.perf_counter() - t_start:.1f} s", "embedding": str(cfg.embedding),
              "validity": "validity.md (harm, shortcut, PCA probe, error share, recovery, dose-response)",
              "excluded by the validity gates": "; ".join(excluded) or "none"}
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
