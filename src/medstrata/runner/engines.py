"""Engines that run a run's cell jobs: in this process, or through a Hydra launcher plug-in.

=================  =========================================================  ====================
``engine=``        how                                                         needs
=================  =========================================================  ====================
``inline``         this process, one job after the other (the default)         nothing
``joblib``         ``workers`` local processes (hydra-joblib-launcher)          extra ``cluster``
``submitit_local`` ``workers`` local processes through submitit's local         extra ``cluster``
                   executor (what ``slurm`` does, without a cluster)
``slurm``          a SLURM job array (``hydra/launcher=medstrata_slurm``,       extra ``cluster``
                   ``conf/hydra/launcher/medstrata_slurm.yaml``)
``ray``            a Ray cluster (hydra-ray-launcher; ``RAY_ADDRESS`` or        extra ``ray``
                   ``launcher.ray.init.address=``; none = a local one)
=================  =========================================================  ====================

A launcher engine runs ``python -c "from medstrata.runner.worker import main; main()" --multirun``
with ``bundle=range(0,B)``: Hydra job ``b`` runs cells ``b, b+B, b+2B, ...`` of the plan
(:mod:`medstrata.runner.worker`). ``bundles`` (B) defaults to one per cell for ``joblib`` and ``ray``
(their own queues balance the load) and to ``workers`` for the submitit engines, so a scheduler sees
a few array tasks, not one per cell. Each worker gets ``threads = cores // workers`` torch and BLAS
threads (``MEDSTRATA_THREADS`` wins when set), so the machine is not oversubscribed.
``launcher.<key>=<value>`` is passed as ``hydra.launcher.<key>=<value>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from medstrata.errors import SpecError

LAUNCHERS = {"joblib": "joblib", "submitit_local": "submitit_local", "slurm": "medstrata_slurm", "ray": "ray"}
ENGINES = ("inline", *LAUNCHERS)
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Environment passed to every worker through its config (a Ray worker does not inherit the
#: launching shell's environment; a SLURM node may not): MEDSTRATA_* and these.
_PASSED = ("PYTHONPATH", "RAY_ADDRESS") + _THREAD_VARS


def _quote(value: str) -> str:
    """``value`` as a quoted Hydra override value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def invocation_token() -> str:
    """A token naming one launch (host, pid, time): recorded by the jobs it runs. Not an id of
    any content; only used to tell which models *this* command trained."""
    return f"{os.uname().nodename}-{os.getpid()}-{time.time_ns()}"


def threads_per_worker(workers: int) -> int:
    """``$MEDSTRATA_THREADS`` when set, else the usable cores divided among ``workers`` (>= 1)."""
    raw = os.environ.get("MEDSTRATA_THREADS", "").strip()
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    return max(1, len(os.sched_getaffinity(0)) // max(1, workers))


def launch(work: Path, cfg, jobs: list[dict[str, Any]], engine: dict[str, Any]) -> str:
    """Run every job of ``work`` that is not done with ``engine`` = {engine, workers, bundles,
    launcher: {key: value}}; returns the invocation token its jobs record."""
    from tqdm.auto import tqdm

    from medstrata import interrupt
    from medstrata.runner import cells

    name, token = engine.get("engine", "inline"), engine.get("invocation") or invocation_token()
    if name not in ENGINES:
        raise SpecError(f"engine={name!r}; expected one of {', '.join(ENGINES)}")
    todo = []
    for job in jobs:
        why = cells.not_done(cells.job_dir(work, job["name"]))
        if why not in (None, "missing"):
            print(f"job {cells.job_dir(work, job['name'])}: {why}; rerunning", file=sys.stderr)
        if why is not None:
            todo.append(job)
    print(f"jobs: {len(jobs) - len(todo)} of {len(jobs)} already done, {len(todo)} to run (engine {name})",
          file=sys.stderr)
    if name == "inline":
        for job in tqdm(todo, desc="cell jobs", disable=not bool(cfg.progress)):
            interrupt.check()
            cells.ensure_cell(work, cfg, job, token)
    elif todo:
        _run_launcher(work, name, len(jobs), engine, token)
    return token


def launcher_command(work: Path, name: str, n_jobs: int, engine: dict[str, Any], token: str) -> list[str]:
    """The Hydra multirun command line of a launcher engine (see the module docstring)."""
    from medstrata.runner.suite import CONF_DIR

    workers = int(engine.get("workers") or 1)
    default = n_jobs if name in ("joblib", "ray") else min(n_jobs, workers)
    bundles = max(1, min(n_jobs, int(engine.get("bundles") or default)))
    threads = _slurm_threads(engine) if name == "slurm" else threads_per_worker(workers)
    args = [f"hydra/launcher={LAUNCHERS[name]}", f"work={work}", f"bundles={bundles}",
            f"bundle=range(0,{bundles})", f"threads={threads}", f"invocation={token}"]
    args += {"joblib": [f"hydra.launcher.n_jobs={workers}"],
             "submitit_local": [f"hydra.launcher.cpus_per_task={threads}"],
             "slurm": [f"hydra.launcher.array_parallelism={workers}"] + [f"hydra.launcher.cpus_per_task={threads}"] * bool(threads),
             "ray": [f"+hydra.launcher.ray.remote.num_cpus={threads}", *_ray_address(engine)]}[name]
    args += [f"hydra.launcher.{k}={v}" for k, v in (engine.get("launcher") or {}).items()]
    args += [f"+env.{k}={_quote(v)}" for k, v in sorted(os.environ.items()) if k in _PASSED or k.startswith("MEDSTRATA_")]
    return [sys.executable, "-c", "from medstrata.runner.worker import main; main()", "--multirun",
            "--config-dir", str(CONF_DIR), "--config-name", "worker", *args]


def _slurm_threads(engine: dict[str, Any]) -> int:
    """A SLURM worker's threads: ``launcher.cpus_per_task=`` or ``$MEDSTRATA_THREADS`` when given,
    else 0 = the array task's own ``SLURM_CPUS_PER_TASK`` (the launcher config's ``cpus_per_task``;
    the submitting node's cores say nothing about the compute nodes)."""
    raw = str((engine.get("launcher") or {}).get("cpus_per_task") or os.environ.get("MEDSTRATA_THREADS", "")).strip()
    return int(raw) if raw.isdigit() and int(raw) >= 1 else 0


def _ray_address(engine: dict[str, Any]) -> list[str]:
    """Connect to ``launcher.ray.init.address=`` or ``$RAY_ADDRESS`` when given (hydra-ray-launcher
    1.2.2 sets ``object_store_memory`` unless the key exists, and ``ray.init`` refuses it for an
    existing cluster, so it is set to null); none = the launcher starts a local Ray."""
    given = (engine.get("launcher") or {}).get("ray.init.address")  # passed on with the other launcher keys
    env = os.environ.get("RAY_ADDRESS")
    if not given and not env:
        return []
    address = [] if given else [f"hydra.launcher.ray.init.address={env}"]
    return [*address, "+hydra.launcher.ray.init.object_store_memory=null"]


def _run_launcher(work: Path, name: str, n_jobs: int, engine: dict[str, Any], token: str) -> None:
    """Run the multirun in a child process (Hydra's global state stays out of this one)."""
    threads = str(threads_per_worker(int(engine.get("workers") or 1)))
    for var in ("MEDSTRATA_THREADS", *_THREAD_VARS) if name != "slurm" else ():  # to the workers, via env=
        os.environ.setdefault(var, threads)
    cmd = launcher_command(work, name, n_jobs, engine, token)
    print(f"launching: {' '.join(a for a in cmd[3:] if not a.startswith('+env.'))}", file=sys.stderr)
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SpecError(f"engine {name} failed (exit {proc.returncode}); its logs are under {work / 'launcher'}. "
                        "Jobs that finished are kept: rerun the same command to run the rest")
