"""Expand a suite config into jobs.

A job is one (dataset, stratum kind, params, seed) cell; the seed drives the task build, the
reference model and every method's ``random_state``. Jobs are pure functions of content-hashed
inputs (task id, model spec, method spec, seed), so they can later be dispatched to any launcher.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from medstrata.errors import SpecError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


@dataclass(frozen=True)
class TaskCell:
    """One task of a suite before seeding: dataset flag, stratum kind and its non-default params."""

    dataset: str
    kind: str
    params: dict = field(default_factory=dict)
    severity: float | None = None


def _group(name: str, option: str) -> dict[str, Any]:
    path = CONF_DIR / name / f"{option}.yaml"
    if not path.is_file():
        valid = sorted(p.stem for p in (CONF_DIR / name).glob("*.yaml"))
        raise SpecError(f"unknown {name} {option!r}; valid: {', '.join(valid)}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)  # type: ignore[return-value]


def method_configs(cfg: DictConfig) -> list[dict[str, Any]]:
    """Method name + params for every method of the run (from the ``method`` config group or registry)."""
    from medstrata.methods import list_methods

    names = cfg.methods if cfg.methods is not None else cfg.suite.methods
    names = list_methods() if names == "all" else list(names)
    out = []
    for name in names:
        path = CONF_DIR / "method" / f"{name}.yaml"
        if name not in list_methods():
            raise SpecError(f"unknown method {name!r}; registered: {', '.join(list_methods())}")
        out.append(_group("method", name) if path.is_file() else {"name": name, "params": {}})
    return out


def task_cells(cfg: DictConfig) -> list[TaskCell]:
    """The suite's task cells after the ``datasets=`` / ``kinds=`` filters."""
    suite = cfg.suite
    if "tasks" in suite:
        cells = [TaskCell(t.dataset, t.kind, dict(t.get("params", {}) or {})) for t in suite.tasks]
    else:
        cells = _full_cells(list(suite.datasets), list(suite.kinds), bool(suite.get("severities", False)))
    if cfg.datasets is not None:
        cells = [c for c in cells if c.dataset in set(cfg.datasets)]
    if cfg.kinds is not None:
        cells = [c for c in cells if c.kind in set(cfg.kinds)]
    return _drop_skipped(cells, dict(suite.get("skip_datasets", {}) or {}))


def _drop_skipped(cells: list[TaskCell], skip: dict[str, str]) -> list[TaskCell]:
    """Drop the cells of datasets the suite marks as failing (``skip_datasets: {flag: reason}``,
    e.g. a reference model that misses its target in docs/models.md), saying which and why on stderr."""
    for flag in sorted(skip):
        if any(c.dataset == flag for c in cells):
            print(f"suite: skipping dataset {flag}: {skip[flag]}", file=sys.stderr)
    return [c for c in cells if c.dataset not in skip]


def _full_cells(datasets: list[str], kinds: list[str], severities: bool) -> list[TaskCell]:
    from medstrata.data import info as minfo

    cells = []
    for flag in datasets:
        multiclass = len(minfo.info(flag)["label"]) > 2
        for kind in kinds:
            conf = _group("stratum", kind)
            if conf["multiclass_only"] and not multiclass:
                continue
            levels = conf["severities"] if severities else [None]
            for level in levels:
                params = {} if level is None else {conf["knob"]: level}
                cells.append(TaskCell(flag, kind, params, level))
    return cells


def seeds(cfg: DictConfig) -> list[int]:
    values = cfg.seeds if cfg.seeds is not None else cfg.suite.seeds
    return [int(s) for s in values]
