"""The Hydra app that a launcher engine runs once per bundle (see :mod:`medstrata.runner.engines`).

Config ``conf/worker.yaml``: ``work`` (the run's work folder), ``bundle`` (0..bundles-1),
``bundles``, ``threads`` (torch and BLAS threads of this worker; 0 = ``SLURM_CPUS_PER_TASK``),
``invocation`` (the launch's token) and ``env`` (environment variables of the launching process,
set in the worker). Bundle ``b`` runs the plan's cells ``b, b + bundles, ...`` not done yet.

``MEDSTRATA_WORKER_INIT=module:function`` (optional) is called first in every worker; the tests
use it to put their tiny synthetic sources in place of the official files.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path


def run_bundle(work: str, bundle: int, bundles: int, threads: int, invocation: str = "",
               env: dict[str, str] | None = None) -> list[str]:
    """Run bundle ``bundle`` of ``bundles`` of the plan in ``work``; returns the names of the jobs
    this call ran (those already done are skipped). ``env``: the launching process's MEDSTRATA_*,
    thread and PYTHONPATH variables, set here first (Ray workers do not inherit them)."""
    import sys

    from omegaconf import OmegaConf
    from threadpoolctl import threadpool_limits

    from medstrata.runner import cells

    os.environ.update(env or {})
    threads = int(threads) or int(os.environ.get("SLURM_CPUS_PER_TASK", "1"))  # 0: the array task's cpus
    for var in ("MEDSTRATA_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    sys.path[:0] = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
    init = os.environ.get("MEDSTRATA_WORKER_INIT", "")
    if init:
        module, _, func = init.partition(":")
        getattr(importlib.import_module(module), func)()
    plan = cells.read_plan(Path(work))
    cfg = OmegaConf.create(plan["config"])
    ran = []
    with threadpool_limits(limits=int(threads)):
        for job in plan["jobs"][int(bundle)::int(bundles)]:
            if cells.ensure_cell(Path(work), cfg, job, invocation):
                ran.append(job["name"])
    return ran


def task(cfg) -> list[str]:
    """The Hydra task function: one bundle."""
    env = {str(k): str(v) for k, v in (cfg.get("env") or {}).items()}
    return run_bundle(str(cfg.work), int(cfg.bundle), int(cfg.bundles), int(cfg.threads), str(cfg.invocation), env)


def main() -> None:
    import hydra

    hydra.main(version_base="1.3", config_path=None, config_name="worker")(task)()
