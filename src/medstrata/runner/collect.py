"""``medstrata collect <work dir>``: the run folder from the job folders alone.

Reads ``plan.json`` and every job's ``records.json`` (:mod:`medstrata.runner.cells`; each checked
against its SHA-256) and writes what ``medstrata run`` writes: ``runs/<run name>/`` with
``results.parquet``/``.csv``, ``reference.*``, ``slices/``, ``validity.*``, ``mitigation.*``,
plots and ``summary.md`` (published atomically). It needs no cache and no engine: the same job
folders give the same tables whether one process, joblib workers, SLURM or Ray ran the jobs.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from medstrata import __version__, paths
from medstrata.errors import SpecError
from medstrata.runner import cells, report
from medstrata.runner import mitigation as M
from medstrata.validity import run as V


def finished(work: Path, plan: dict) -> list[dict]:
    """The outputs of every planned job, in plan order; a :class:`SpecError` naming the jobs that
    are not done (rerun the same command to finish them)."""
    missing = [j["name"] for j in plan["jobs"] if not cells.is_done(cells.job_dir(work, j["name"]))]
    if missing:
        raise SpecError(f"{len(missing)} of {len(plan['jobs'])} jobs of {work} are not done "
                        f"({', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}); rerun the run's "
                        "command to finish them, then collect")
    return [cells.read_records(cells.job_dir(work, j["name"])) for j in plan["jobs"]]


def collect(work: Path, t_start: float | None = None, invocation: str | None = None) -> Path:
    """Assemble ``runs/<run name>`` from ``work``'s job folders; returns the run folder.

    ``t_start`` (a ``time.perf_counter()`` value): the run's start, for the summary's wall time;
    None = the sum of the jobs' own wall times. ``invocation``: count as "trained by this run" only
    the models of jobs that this invocation ran (None: of every job)."""
    from omegaconf import OmegaConf

    from medstrata.runner.runner import publishing

    work = Path(work)
    plan = cells.read_plan(work)
    cfg, outs = OmegaConf.create(plan["config"]), finished(work, plan)
    planned = [o["job"] for o in outs]
    trained = sum(1 for o in outs if o["model"]["trained"] and invocation in (None, o["done"]["by"]))
    print(f"reference models: {trained} trained by this run, {len(outs) - trained} reused", file=sys.stderr)
    mode = str(cfg.suite.get("gates", "exclude"))
    cards = V.cards_from_measures(planned, {o["job"]["task_id"]: o["measures"] for o in outs})
    excluded = V.announce(cards, mode)
    kept = [o for o in outs if V.cell_key(o["job"]) not in excluded]
    results = pd.DataFrame([r for o in kept for r in o["results"]])
    refs = [r for o in kept for r in o["mitigation_refs"]]
    if refs and not results.empty:
        results = M.merge_mitigation(results, refs, [r for o in kept for r in o["mitigation_rows"]])
    V.attach_recover(cards, [o["job"] for o in kept], results)
    V.attach_dose(cards)
    ref = pd.DataFrame([r for o in kept for r in o["reference"]])
    wall = time.perf_counter() - t_start if t_start is not None else sum(o["wall_s"] for o in outs)
    folder = paths.runs_dir() / plan["run"]
    with publishing(folder) as tmp:
        V.write(tmp, cards, str(cfg.suite.name), mode, excluded)
        if not results.empty:
            stats = {"trained": trained, "cells": len(outs), "wall_s": wall}
            _save(tmp, folder.name, results, ref, cfg, stats, [cards[k]["cell"] for k in sorted(excluded)])
            _copy_slices(tmp, work, kept)
            M.save(tmp, results, refs, cfg)
            V.append_to_summary(tmp)
    if results.empty:
        raise SpecError(f"every task of suite {cfg.suite.name} failed the validity gates; see {folder / 'validity.md'}")
    return folder


def _save(folder: Path, name: str, results: pd.DataFrame, ref: pd.DataFrame, cfg, stats: dict,
          excluded: list[str]) -> None:
    """Write the run's tables, plots and summary into ``folder`` (the temp folder of run ``name``);
    ``stats``: {trained, cells, wall_s} for the summary's header."""
    from medstrata.runner.runner import slice_budget

    metric = str(cfg.suite.primary_metric)
    results = results.assign(run_id=name)
    flat = results.drop(columns=["ap_boot"], errors="ignore")
    flat.to_parquet(folder / "results.parquet", index=False)
    flat.to_csv(folder / "results.csv", index=False)
    if "ap_boot" in results:
        keys = ["result_id", "stratum_column", "stratum_id"]
        results[keys + ["ap_boot"]].to_parquet(folder / "replicates.parquet", index=False)
    ref.to_parquet(folder / "reference.parquet", index=False)
    ref.to_csv(folder / "reference.csv", index=False)
    ranking = report.ranked_table(results, metric)
    cells = report.add_cell(results)
    header = {"run": name, "medstrata": __version__,
              "tasks (dataset × kind × setting)": cells.cell.nunique(),
              "seeds": sorted(int(s) for s in results.seed.unique()),
              "task × seed cells": results.task_id.nunique(),
              "methods": f"{results.method.nunique()} ({int(ranking[0].role.eq('ranked').sum())} ranked, "
                         f"{int(ranking[0].role.eq('control').sum())} controls)",
              "slice budget n_slices": slice_budget(cfg.suite),
              "discovery random states per model": int(cfg.suite.get("discovery_states", 1)),
              "models trained this run": f"{stats['trained']} of {stats['cells']} (others from cache)",
              "wall time": f"{stats['wall_s']:.1f} s", "embedding": str(cfg.embedding),
              "validity": "validity.md (harm, shortcut, PCA probe, error share, recovery, dose-response)",
              "excluded by the validity gates": "; ".join(excluded) or "none"}
    plots = [(f"recovery_{metric}.png", f"{metric} per method and stratum kind, error bars = std over seeds"),
             ("recovery_p_at_10.png", "the same for p_at_10 (split-half)")]
    report.plot_recovery(results, metric, folder / plots[0][0])
    report.plot_recovery(results, "p_at_10", folder / plots[1][0])
    if report.plot_dose_response(results, metric, folder / "dose_response.png"):
        plots.append(("dose_response.png", f"{metric} against the severity knob, one panel per kind"))
    report.write_markdown(folder / "summary.md", cfg.suite.name, metric, ranking, results, ref, header, plots)
    print(f"\nMedStrata {cfg.suite.name}: ranking by {metric} ({stats['cells']} task×seed cells, "
          f"{results.method.nunique()} methods, {stats['wall_s']:.1f} s)")
    print(report.format_table(ranking[0], metric))
    print("\nReference models, test (mean over seeds):")
    print(report.reference_table(ref).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def _copy_slices(folder: Path, work: Path, outs: list[dict]) -> None:
    """``slices/<result id>.npz``: each method result's test slice scores, copied from the job
    folders (checked against their SHA-256), so that ``medstrata export-submission`` needs nothing
    but the run folder."""
    from medstrata import integrity

    out = folder / "slices"
    out.mkdir()
    for o in outs:
        src = cells.job_dir(work, o["job"]["name"]) / "slices"
        for rid in sorted({r["result_id"] for r in o["results"]}):
            why = integrity.problem(src / f"{rid}.npz")
            if why is not None:
                raise SpecError(f"{src / f'{rid}.npz'}: {why}; remove its job folder and rerun")
            shutil.copyfile(src / f"{rid}.npz", out / f"{rid}.npz")
