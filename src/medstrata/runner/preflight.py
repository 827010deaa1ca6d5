"""Check a whole run before any work: every option, filter, method, parameter, model spec and task
spec of every job is validated here, so a bad input fails in a second with a specific message,
before a task is built, a model trained or a run folder created. ``--dry-run`` runs the same checks.

Nothing here reads the image data: the checks are on the configuration alone.
"""

from __future__ import annotations

from typing import Any

from medstrata.errors import MedStrataError, SpecError

GATE_MODES = ("exclude", "report")


def check_options(cfg) -> None:
    """The run's own options: embedding, flags, seeds, method list, filters and suite keys."""
    from medstrata.models.encoders import available_encoders

    if str(cfg.embedding) not in available_encoders():
        raise SpecError(f"unknown embedding {cfg.embedding!r}; registered encoders: {', '.join(available_encoders())}")
    for flag in ("progress", "dry_run"):
        if not isinstance(cfg.get(flag), bool):
            raise SpecError(f"{flag} must be true or false, got {cfg.get(flag)!r}")
    _check_seeds(cfg)
    if cfg.methods is not None and len(cfg.methods) == 0:
        raise SpecError("method= names no method; give one or more names, e.g. method=random,confusion")
    _check_filters(cfg)
    _check_suite(cfg.suite)


def _check_seeds(cfg) -> None:
    from medstrata.tasks.spec import check_seed

    values = cfg.seeds if cfg.seeds is not None else cfg.suite.seeds
    if values is None or len(values) == 0:
        raise SpecError("seed= gives no seed; e.g. seed=0 or seed=0,1,2")
    for value in values:
        check_seed(value)
    if len(set(values)) != len(values):
        raise SpecError(f"seed= lists a seed twice: {list(values)}")


def _check_filters(cfg) -> None:
    """``dataset=`` names MedMNIST flags, ``kind=`` names registered stratum kinds."""
    from medstrata.data import info as minfo
    from medstrata.strata import list_strata

    for name in cfg.datasets or []:
        minfo.info(str(name))  # UnknownDatasetError lists the valid flags
    for name in cfg.kinds or []:
        if str(name) not in list_strata():
            raise SpecError(f"unknown stratum kind {name!r} in kind=; valid kinds: {', '.join(list_strata())}")


def _check_suite(suite) -> None:
    from medstrata.runner.report import RECOVERY_METRICS
    from medstrata.runner.runner import slice_budget

    slice_budget(suite)
    states = suite.get("discovery_states", 1)
    if isinstance(states, bool) or not isinstance(states, int) or states < 1:
        raise SpecError(f"suite.discovery_states must be an int >= 1, got {states!r}")
    if str(suite.get("gates", "exclude")) not in GATE_MODES:
        raise SpecError(f"suite.gates must be one of {', '.join(GATE_MODES)}, got {suite.get('gates')!r}")
    from medstrata.runner.mitigation import strategy_of

    strategy_of(suite)
    if str(suite.get("primary_metric")) not in RECOVERY_METRICS:
        raise SpecError(f"suite.primary_metric must be one of {', '.join(RECOVERY_METRICS)}, "
                        f"got {suite.get('primary_metric')!r}")


def resolved_model(cfg, job: dict[str, Any]) -> dict[str, Any]:
    """The resolved reference-model spec of one job: the suite's model, the task's ``model``
    overrides and the dataset's recipe defaults (what the model's cache key hashes)."""
    from medstrata.data import info as minfo
    from medstrata.models.train import for_image_kind, resolve_spec

    kind = "3d" if minfo.is_3d(job["dataset"]) else "2d"
    spec = {**dict(cfg.suite.get("model", {}) or {}), **job.get("model", {})}
    return resolve_spec(for_image_kind(spec, kind, job["dataset"]), kind)


def check_jobs(cfg, jobs: list[dict[str, Any]]) -> None:
    """Every job's task spec and model spec resolve; an empty selection is an error that says why."""
    from medstrata.tasks.spec import resolve_spec

    if not jobs:
        raise SpecError(_why_empty(cfg))
    from medstrata.runner.runner import slice_budget

    check_method_params(jobs[0]["methods"], slice_budget(cfg.suite))
    size = cfg.suite.get("size", 28)
    for job in jobs:
        where = f"task {job['dataset']} [{'+'.join(k for k, _ in job['strata'])}] seed {job['seed']}"
        try:
            resolve_spec(job["dataset"], size, job["seed"], job.get("target"), job["strata"])
            resolved_model(cfg, job)
        except MedStrataError as exc:
            raise SpecError(f"{where}: {exc}") from None


def check_method_params(methods: list[dict[str, Any]], n_slices: int) -> None:
    """Every method given non-default parameters is fit once on a tiny planted problem with them,
    so a bad value (a string where a number goes, a value out of range) fails here, in a second,
    and not after the models are trained. Methods left at their defaults are not run."""
    from medstrata.methods import get_method_class, run_method
    from medstrata.methods.checks import make_check_data

    chosen = [m for m in methods if m.get("params")]
    if not chosen:
        return
    data = make_check_data(n=48)
    for m in chosen:
        params = {**m["params"], "n_slices": n_slices, "random_state": 0}
        if get_method_class(m["name"]).is_oracle:
            params["truth"] = data.truth
        try:
            run_method(m["name"], params, data.val, data.test)
        except Exception as exc:  # noqa: BLE001 - any failure on a tiny problem is a bad value
            given = ", ".join(f"{k}={v!r}" for k, v in m["params"].items())
            raise SpecError(f"method {m['name']!r} does not accept {given}: {type(exc).__name__}: {exc}") from None


def _why_empty(cfg) -> str:
    """The message for a selection of zero jobs: which filter removed everything, and what it could name."""
    suite = cfg.suite
    names = sorted({t.get("dataset") for t in suite.get("tasks", [])} or set(suite.get("datasets", []) or []))
    kinds = sorted({k for t in suite.get("tasks", []) for k in ([t["kind"]] if "kind" in t else
                                                                [s["kind"] for s in t.get("strata", [])])}
                   or set(suite.get("kinds", []) or []))
    given = [f"dataset={','.join(cfg.datasets)}" if cfg.datasets is not None else "",
             f"kind={','.join(cfg.kinds)}" if cfg.kinds is not None else ""]
    given = " ".join(g for g in given if g) or "the suite's own skip list"
    return (f"{given} selects no task of suite {suite.name!r} (its datasets: {', '.join(names) or 'none'}; "
            f"its kinds: {', '.join(kinds) or 'none'}); nothing was run")
