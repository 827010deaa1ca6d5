"""``medstrata run suite=<name> [method=a,b] [seed=0,1,2] [dataset=..] [kind=..] [--dry-run]``.

Method parameters: ``method_params.<method>.<param>=<value>`` (e.g.
``method_params.domino_mixture.y_weight=10``) sets one constructor argument of one method of the
run; an unknown method or parameter is a :class:`SpecError` before anything is built or trained.

A Hydra app: the config lives in ``medstrata/conf`` with one group, ``suite/``. ``dataset=`` and
``kind=`` filter the suite's tasks, ``seed=`` and ``method=`` replace its seeds and methods,
``suite.model.<key>=`` and ``method_params.<m>.<p>=`` add or override one setting; any other override
must name an existing key. Hydra's own flags (``--cfg``, ``--multirun``) are refused. Everything is
checked by :mod:`medstrata.runner.preflight` before any work.
Engine options (not part of the config, so they never change the run's name or numbers):
``engine=inline|joblib|submitit_local|slurm|ray``, ``workers=<n>``, ``bundles=<n>`` and
``launcher.<key>=<value>`` (see :mod:`medstrata.runner.engines`). Every run is a list of cell jobs
under ``$MEDSTRATA_HOME/work/<run name>/``; a rerun skips the jobs already done.
Prints the ranked table and writes ``results.parquet``, ``results.csv``, ``reference.parquet``,
``summary.md`` and plots into a run folder whose path is the last line of stdout.
"""

from __future__ import annotations

import json
from typing import Any

from medstrata.errors import SpecError

_SUGAR = {"method": "methods", "seed": "seeds", "dataset": "datasets", "kind": "kinds"}


_ENGINE_KEYS = ("engine", "workers", "bundles")


def split_engine(overrides: list[str]) -> tuple[list[str], dict[str, Any]]:
    """Take the engine options out of ``overrides``: ``(the rest, {engine, workers, bundles,
    launcher: {key: value}})``; ``workers``/``bundles`` must be positive ints."""
    rest, engine = [], {"engine": "inline", "launcher": {}}
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key in _ENGINE_KEYS:
            if key != "engine" and (not value.isdigit() or int(value) < 1):
                raise SpecError(f"{key}= takes a positive integer, got {value!r}")
            engine[key] = value if key == "engine" else int(value)
        elif sep and key.startswith("launcher."):
            engine["launcher"][key[len("launcher."):]] = value
        else:
            rest.append(o)
    return rest, engine


def translate(overrides: list[str]) -> tuple[list[str], bool]:
    """CLI sugar -> Hydra overrides: ``method=a,b`` -> ``methods=[a,b]``; ``--dry-run`` -> flag."""
    out, dry = [], False
    for o in overrides:
        if o in ("--dry-run", "dry_run=true"):
            dry = True
            continue
        if o.startswith("-"):
            raise SpecError(f"{o!r} is not an option of `medstrata run`: it takes key=value overrides and "
                            "--dry-run only (Hydra's own flags such as --cfg, --multirun are not supported)")
        key, sep, value = o.partition("=")
        if not sep or not key:
            raise SpecError(f"expected key=value or --dry-run, got {o!r}")
        if key.lstrip("+").startswith(("method_params.", "suite.model.")):
            out.append(f"++{key.lstrip('+')}={value}")  # add or override; the keys are checked later
        elif key in _SUGAR:
            items = value.strip("[]").split(",")
            out.append(f"{_SUGAR[key]}=[{','.join(i.strip() for i in items if i.strip())}]")
        else:
            out.append(o)
    return out, dry


def compose(overrides: list[str]):
    from hydra import compose as hcompose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from medstrata.runner.suite import CONF_DIR

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hcompose("config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise SpecError(f"bad run override: {exc}") from None


def plan(cfg) -> list[dict[str, Any]]:
    """The run's jobs: one per (task cell, seed), each listing the methods it will run."""
    from medstrata.runner.suite import method_configs, seeds, task_cells

    methods = method_configs(cfg)
    return [{"dataset": c.dataset, "kind": c.kind, "params": c.params, "strata": c.all_strata(),
             "target": c.target, "model": c.model, "seed": s, "methods": methods}
            for c in task_cells(cfg) for s in seeds(cfg)]


def run_app(overrides: list[str]) -> int:
    from omegaconf import OmegaConf

    from medstrata.runner import preflight

    overrides, engine = split_engine(overrides)
    hydra_overrides, dry = translate(overrides)
    cfg = compose(hydra_overrides)
    preflight.check_options(cfg)
    jobs = plan(cfg)
    preflight.check_jobs(cfg, jobs)
    if dry or cfg.dry_run:
        from medstrata.runner.cells import job_name

        for j in jobs:
            kinds = "+".join(k for k, _ in j["strata"])
            print(f"job {j['dataset']:15s} {kinds:16s} {json.dumps([p for _, p in j['strata']])} "
                  f"target={j['target'] or 'default'} seed={j['seed']} name={job_name(cfg, j)} "
                  f"methods={','.join(m['name'] for m in j['methods'])}")
        print(f"{len(jobs)} jobs, {sum(len(j['methods']) for j in jobs)} method runs (dry run: nothing executed)")
        return 0
    from medstrata import paths
    from medstrata.runner.runner import execute

    paths.check_home()
    folder = execute(cfg, jobs, OmegaConf.to_container(cfg, resolve=True), engine)
    print(folder)
    return 0
