"""Shared helpers of the speed and memory benchmarks (not part of the test run, not a package module).

* :func:`machine`: what the numbers were measured on (CPU model, cores, RAM, torch version and
  threads, 1-minute load average), recorded in every JSON a benchmark writes.
* :func:`measure`: wall time, process CPU time and **peak RSS of one call**. Linux keeps the peak
  resident set (``VmHWM``) per process; writing ``5`` to ``/proc/self/clear_refs`` resets it to the
  current RSS (Linux >= 4.0), so the peak seen after the call is the peak *during* the call. Where
  that file cannot be written the peak is the process's lifetime peak, and ``peak_is_lifetime`` says
  so.
* :func:`traced_peak_mb`: the peak of what a call allocates through Python and numpy (tracemalloc),
  a method's own footprint even where the allocator reuses freed pages and RSS does not grow.
* :func:`best_of`: repeat a call and keep the fastest wall time (the CPU is shared: the minimum is
  the least contended repeat), the largest peak RSS and the load average of every repeat.
* :func:`keyed_subsample`: nested, deterministic subsamples by a keyed uniform draw per sample id.
* :func:`loglog_exponent`: least-squares slope of log time on log n.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from medstrata.hashing import keyed_uniform

_STATUS = Path("/proc/self/status")


def loadavg() -> float:
    """The 1-minute load average, rounded to 2 decimals."""
    return round(os.getloadavg()[0], 2)


def _status_mb(field: str) -> float:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)  # kB -> MiB
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def machine(threads: int | None = None) -> dict[str, Any]:
    """CPU model, logical cores, RAM (GiB), Python, torch version, the torch threads a MedStrata
    training gets for ``threads`` (``MEDSTRATA_THREADS`` wins when set; default 2), load average."""
    import torch

    from medstrata.models.threads import torch_threads

    first: dict[str, str] = {}  # the first CPU's entries
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if ":" in line:
            k, v = (x.strip() for x in line.split(":", 1))
            first.setdefault(k, v)
    cpu = first.get("model name", platform.processor() or platform.machine())
    flags = set(first.get("flags", "").split())
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return {"cpu": cpu, "cpu_family_model": f"{first.get('cpu family', '?')}/{first.get('model', '?')}",
            "bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16"}), "logical_cores": os.cpu_count(), "ram_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch_threads(2 if threads is None else threads),
            "loadavg_1min": loadavg(), "platform": platform.platform(),
            "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "MEDSTRATA_THREADS") if k in os.environ}}


def measure(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Call ``fn()`` once; return its value and {wall_s, cpu_s, peak_rss_mb, rss_before_mb,
    peak_is_lifetime, load_before, load_after}. ``cpu_s`` is this process's CPU time (all threads)."""
    exact = _reset_peak()
    before = _status_mb("VmRSS")
    load0 = loadavg()
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return value, {"wall_s": round(wall, 4), "cpu_s": round(cpu, 3), "peak_rss_mb": _status_mb("VmHWM"),
                   "rss_before_mb": before, "peak_is_lifetime": not exact,
                   "load_before": load0, "load_after": loadavg()}


def traced_peak_mb(fn: Callable[[], Any]) -> float:
    """Peak of the memory ``tracemalloc`` sees allocated during one call of ``fn`` (MiB): Python
    objects and numpy buffers, whether or not the allocator had freed pages to reuse; not torch
    tensors or other native allocations. Slows allocation-heavy Python code; time nothing with it."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    finally:
        tracemalloc.stop()


def best_of(fn: Callable[[], Any], repeats: int, budget_s: float = float("inf")) -> tuple[Any, dict[str, Any]]:
    """Up to ``repeats`` calls of ``fn`` (fewer once they took ``budget_s`` seconds in all): the value
    of the last, the fastest wall time (and its CPU time), every wall time, the largest peak RSS and
    the range of the load average over the repeats."""
    runs = []
    for _ in range(repeats):
        value, m = measure(fn)
        runs.append(m)
        if sum(r["wall_s"] for r in runs) >= budget_s:
            break
    best = min(runs, key=lambda m: m["wall_s"])
    loads = [m["load_before"] for m in runs] + [m["load_after"] for m in runs]
    return value, {"wall_s": best["wall_s"], "cpu_s": best["cpu_s"], "walls_s": [m["wall_s"] for m in runs],
                   "peak_rss_mb": max(m["peak_rss_mb"] for m in runs),
                   "rss_before_mb": min(m["rss_before_mb"] for m in runs),
                   "peak_is_lifetime": runs[0]["peak_is_lifetime"], "load_min": min(loads), "load_max": max(loads)}


def keyed_subsample(sample_ids: np.ndarray, n: int, key: str) -> np.ndarray:
    """Positions of the ``n`` ids with the smallest keyed uniform draw, in increasing position order.
    Subsamples of one key are nested (the 2k draw lies inside the 4k draw)."""
    u = keyed_uniform(key, np.asarray(sample_ids).astype(str).tolist(), "subsample")
    return np.sort(np.argsort(u, kind="stable")[: min(n, len(u))])


def loglog_exponent(ns: list[float], seconds: list[float]) -> float:
    """Least-squares slope b of ``log t = a + b log n`` (NaN with fewer than two sizes)."""
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(seconds), 1)[0])
