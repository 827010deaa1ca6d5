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

from medstrata.errors import MedStrataError, SpecError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


@dataclass(frozen=True)
class TaskCell:
    """One task of a suite before seeding: dataset flag, stratum kind and its non-default params.

    ``strata`` lists every ``(kind, params)`` of a multi-stratum task (``kind``/``params`` are the
    first); ``target`` is the task target (None = the dataset's default, see ``tasks/target.py``).
    """

    dataset: str
    kind: str
    params: dict = field(default_factory=dict)
    severity: float | None = None
    strata: tuple = ()
    target: str | None = None
    model: dict = field(default_factory=dict)

    def all_strata(self) -> list[tuple[str, dict]]:
        """Every ``(kind, params)`` of the task, in the suite's order."""
        return [(k, dict(p)) for k, p in self.strata] if self.strata else [(self.kind, dict(self.params))]


def _group(name: str, option: str) -> dict[str, Any]:
    path = CONF_DIR / name / f"{option}.yaml"
    if not path.is_file():
        valid = sorted(p.stem for p in (CONF_DIR / name).glob("*.yaml"))
        raise SpecError(f"unknown {name} {option!r}; valid: {', '.join(valid)}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)  # type: ignore[return-value]


def method_configs(cfg: DictConfig) -> list[dict[str, Any]]:
    """Method name + params for every method of the run.

    A method's params are its constructor defaults updated with the command line's
    ``method_params.<name>.<param>=<value>``. Every parameter is checked against the
    method's constructor signature here, before any task is built or model trained; ``random_state``
    (the run's seed) and ``n_slices`` (the suite's slice budget) are not settable per method.
    """
    from medstrata.methods import check_params, list_methods

    names = cfg.methods if cfg.methods is not None else cfg.suite.methods
    names = list_methods() if names == "all" else list(names)
    overrides = _method_params(cfg, names)
    out = []
    for name in names:
        if name not in list_methods():
            raise SpecError(f"unknown method {name!r}; registered: {', '.join(list_methods())}")
        params = dict(overrides.get(name, {}))
        if "random_state" in params:
            raise SpecError(f"method {name!r}: random_state is the run's seed; set seed=... instead")
        if "n_slices" in params:
            raise SpecError(f"method {name!r}: n_slices is the suite's slice budget, the same for every "
                            "method; set suite.n_slices=... instead")
        try:
            check_params(name, params)
        except MedStrataError as exc:
            raise SpecError(str(exc)) from None
        out.append({"name": name, "params": params})
    return out


def _method_params(cfg: DictConfig, names: list[str]) -> dict[str, dict[str, Any]]:
    """The ``method_params`` mapping of the config, checked: every key names a method of the run."""
    raw = cfg.get("method_params") or {}
    given = OmegaConf.to_container(raw, resolve=True) if isinstance(raw, DictConfig) else dict(raw)
    for name, params in given.items():
        if name not in names:
            raise SpecError(f"method_params.{name} given, but {name!r} is not a method of this run "
                            f"({', '.join(names)})")
        if not isinstance(params, dict):
            raise SpecError(f"method_params.{name} must be a mapping of parameter=value, got {params!r}")
    return given


def task_cells(cfg: DictConfig) -> list[TaskCell]:
    """The suite's task cells after the ``datasets=`` / ``kinds=`` filters."""
    suite = cfg.suite
    if "tasks" in suite:
        cells = [_listed_cell(OmegaConf.to_container(t, resolve=True)) for t in suite.tasks]
    else:
        cells = _full_cells(list(suite.datasets), list(suite.kinds), bool(suite.get("severities", False)))
    if cfg.datasets is not None:
        cells = [c for c in cells if c.dataset in set(cfg.datasets)]
    if cfg.kinds is not None:
        cells = [c for c in cells if {k for k, _ in c.all_strata()} & set(cfg.kinds)]
    return _drop_skipped(cells, dict(suite.get("skip_datasets", {}) or {}))


def _drop_skipped(cells: list[TaskCell], skip: dict[str, str]) -> list[TaskCell]:
    """Drop the cells of datasets the suite marks as failing (``skip_datasets: {flag: reason}``,
    e.g. a reference model that misses its target in docs/models.md), saying which and why on stderr."""
    for flag in sorted(skip):
        if any(c.dataset == flag for c in cells):
            print(f"suite: skipping dataset {flag}: {skip[flag]}", file=sys.stderr)
    return [c for c in cells if c.dataset not in skip]


def _listed_cell(t: dict) -> TaskCell:
    """A ``tasks:`` entry: ``{dataset, kind, params}`` or ``{dataset, strata: [{kind, params}, ...]}``,
    each with an optional ``target`` and ``model`` (overrides of the suite's model spec for this task)."""
    unknown = set(t) - {"dataset", "kind", "params", "strata", "target", "model"}
    if unknown or "dataset" not in t or ("kind" in t) == ("strata" in t):
        raise SpecError(f"suite task {t} must have dataset and exactly one of kind/strata "
                        f"(optional: params, target, model); unknown keys: {sorted(unknown)}")
    if "kind" in t:
        strata = [(t["kind"], dict(t.get("params") or {}))]
    else:
        strata = [(s["kind"], dict(s.get("params") or {})) for s in t["strata"]]
    return TaskCell(t["dataset"], strata[0][0], strata[0][1], None,
                    tuple((k, p) for k, p in strata) if len(strata) > 1 else (), t.get("target"),
                    dict(t.get("model") or {}))


def _full_cells(datasets: list[str], kinds: list[str], severities: bool) -> list[TaskCell]:
    from medstrata.data import info as minfo

    cells = []
    from medstrata.strata import declaration

    for flag in datasets:
        multiclass = len(minfo.info(flag)["label"]) > 2
        for kind in kinds:
            conf = declaration(kind)
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
