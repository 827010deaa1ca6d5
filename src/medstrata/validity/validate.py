"""Measure the validity card of a task cell: build it and train its reference model for every seed
(through the run's content-hashed task and model caches, so nothing is trained twice), then measure
harm, shortcuts, recoverability and dose-response.

Entry points: :func:`validate_cell` (a cell = dataset, target and strata before seeding),
:func:`cell_of_task` (the cell of a built task id) and :func:`validate_suite` (every cell of a suite).
Dose-response trains one model per (severity, seed): four times the cost of the card without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from medstrata.validity import card as C
from medstrata.validity import gates

#: Development seeds: every default, subclass and severity is decided on these (on val).
DEV_SEEDS = (100, 101, 102)
RECOVER_METRIC = "p_at_10"


def cell_of_task(task_id: str) -> dict:
    """{"dataset", "target", "strata": [[kind, resolved params], ...]} of a built task."""
    from medstrata.runner import jobs as J

    spec = J._load_task(task_id).info["spec"]
    return {"dataset": spec["dataset"], "target": spec["target"]["kind"],
            "strata": [[s["kind"], dict(s["params"])] for s in spec["strata"]]}


def _train(cell: dict, seed: int, model_spec: dict) -> tuple[str, dict]:
    """(task id, model record) for one seed of ``cell``; both cached by content hash."""
    from medstrata.runner import jobs as J

    task_id = J.task_job(cell["dataset"], [(k, dict(p)) for k, p in cell["strata"]], seed, cell.get("target"))
    return task_id, J.model_job(task_id, {**model_spec, **cell.get("model", {})}, seed, progress=False)


def recoverability(task_id: str, model: dict, seed: int) -> list[dict]:
    """Oracle and random control records (``method_job``, cached) of one seed."""
    from medstrata.runner import jobs as J
    from medstrata.runner.suite import _group

    n_slices = int(_group("suite", "quick")["n_slices"])  # the published suites' slice budget
    out = []
    for name in ("oracle", "random"):
        out += J.method_job(task_id, model, {"name": name, "params": {}}, seed, "penultimate", n_slices=n_slices)
    return out


def _recover_summary(records: list[dict]) -> dict:
    """{(column, stratum id): {"oracle", "random", "metric"}}: mean over seeds of RECOVER_METRIC."""
    acc: dict[tuple, dict[str, list]] = {}
    for r in records:
        key = (r["stratum_column"], int(r["stratum_id"]))
        acc.setdefault(key, {}).setdefault(r["method"], []).append(float(r[RECOVER_METRIC]))
    return {k: {**{m: float(np.nanmean(v)) for m, v in d.items()}, "metric": RECOVER_METRIC} for k, d in acc.items()}


def dose_response(cell: dict, seeds: list[int], model_spec: dict, progress: bool = False) -> dict:
    """{(column, stratum id): {"knob", "severities", "gaps", "monotone", "spearman"}}.

    Each stratum's knob is set to every severity its kind declares (mild to severe) while
    the other strata keep their parameters; the gap is the mean over ``seeds``.
    """
    from medstrata.strata import declaration

    out: dict = {}
    for i, (kind, _) in enumerate(cell["strata"]):
        conf = declaration(kind)
        knob, levels = conf["knob"], list(conf["severities"])
        gaps: dict[int, list[float]] = {}
        for level in tqdm(levels, desc=f"dose {kind}", disable=not progress, leave=False):
            varied = {**cell, "strata": [[k, {**p, knob: level} if j == i else p] for j, (k, p) in enumerate(cell["strata"])]}
            per_level: dict[int, list[float]] = {}
            for seed in seeds:
                task_id, model = _train(varied, seed, model_spec)
                for r in C.measure_seed(task_id, model["model_dir"], probe=False, shortcut=False):
                    if r["column"] == f"stratum_{kind}":
                        per_level.setdefault(r["stratum_id"], []).append(r["gap"])
            for k, v in per_level.items():
                gaps.setdefault(k, []).append(float(np.nanmean(v)))
        for k, g in gaps.items():
            if len(g) == len(levels):
                out[(f"stratum_{kind}", k)] = {"knob": knob, "severities": levels, "gaps": g, **gates.dose_monotone(g)}
    return out


def shortcut_card(cell: dict, seeds: list[int], progress: bool = True) -> dict:
    """The card without models: builds the task per seed, measures shortcuts and the PCA probe on
    val; harm is not measured, so the harm gate reports "not measurable" (a cheap first check)."""
    from medstrata.runner import jobs as J

    per_seed = {}
    for seed in tqdm(seeds, desc=f"shortcuts {C.cell_name(cell)}", disable=not progress, leave=False):
        task_id = J.task_job(cell["dataset"], [(k, dict(p)) for k, p in cell["strata"]], seed, cell.get("target"))
        per_seed[seed] = C.measure_shortcuts(task_id)
    card = C.assemble(cell, per_seed)
    card["failures"] = [f.replace("harm not measurable (no class holds both members and non-members on val)",
                                  "harm not measured (--shortcuts-only: no models)") for f in card["failures"]]
    return card


def validate_cell(cell: dict, seeds: list[int], model_spec: dict, dose: bool = True,
                  progress: bool = True, dose_seeds: list[int] | None = None, models: bool = True) -> dict:
    """The validity card of one cell over ``seeds`` (see :func:`medstrata.validity.card.assemble`);
    dose-response over ``dose_seeds`` (default: ``seeds``); ``models=False``: :func:`shortcut_card`."""
    if not models:
        return shortcut_card(cell, seeds, progress)
    per_seed, recover = {}, []
    for seed in tqdm(seeds, desc=f"validate {C.cell_name(cell)}", disable=not progress, leave=False):
        task_id, model = _train(cell, seed, model_spec)
        per_seed[seed] = C.measure_seed(task_id, model["model_dir"])
        recover += recoverability(task_id, model, seed)
    doses = dose_response(cell, list(dose_seeds or seeds), model_spec, progress) if dose else None
    out = C.assemble(cell, per_seed, _recover_summary(recover), doses)
    out["model_spec"] = {**model_spec, **cell.get("model", {})}
    return out


def suite_cells(cfg: Any) -> list[dict]:
    """The cells of a composed run config (``medstrata.runner.app.compose``), as card cells."""
    from medstrata.runner.suite import task_cells

    return [{"dataset": c.dataset, "target": c.target, "strata": [[k, p] for k, p in c.all_strata()],
             "model": dict(c.model)} for c in task_cells(cfg)]


def validate_suite(cfg: Any, seeds: list[int], model_spec: dict | None = None, dose: bool = True,
                   progress: bool = True, dose_seeds: list[int] | None = None, models: bool = True,
                   on_card: Any = None) -> list[dict]:
    """Cards of every cell of a suite (model spec: the suite's unless given); ``on_card(cards so far)``
    is called after each cell (the CLI rewrites its output files, so a long run keeps what it has)."""
    from medstrata.errors import MedStrataError

    model_spec = dict(cfg.suite.get("model", {})) if model_spec is None else dict(model_spec)
    cards = []
    for cell in suite_cells(cfg):
        try:
            cards.append(validate_cell(cell, seeds, model_spec, dose, progress, dose_seeds, models))
        except MedStrataError as exc:  # an impossible task fails its gates, loudly, with the reason
            card = C.assemble(cell, {})
            card.update(seeds=list(seeds), failures=[f"could not be built or measured: {exc}"], passes=False)
            cards.append(card)
        if on_card is not None:
            on_card(cards)
    return cards
