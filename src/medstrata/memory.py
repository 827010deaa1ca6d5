"""Hand freed heap memory back to the operating system between the large steps of a run.

glibc's allocator raises its mmap threshold after a large block is freed (up to 32 MiB), so the
arrays and tensors of one step (a model's training batches, a method's distance matrices) come from
the heap afterwards, and the heap keeps their pages when they are freed. Over the cells of a run one
process's resident set then grows with every task it has seen, although nothing is still in use
(benchmarks/RESULTS.md, section 4: 2.9-3.1 GiB for the quick suite). :func:`release` calls glibc's
``malloc_trim(0)`` where there is one, which returns the free pages; it changes no number.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_TRIM: list = []


def _malloc_trim():
    """glibc's ``malloc_trim`` or None (macOS, musl, Windows)."""
    if not _TRIM:
        fn = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = getattr(libc, "malloc_trim", None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        except OSError:
            fn = None
        _TRIM.append(fn)
    return _TRIM[0]


def release() -> bool:
    """Collect garbage, then give the heap's free pages back; True when glibc's trim ran."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_mib() -> float:
    """This process's current resident set in MiB (Linux ``/proc/self/statm``; 0.0 elsewhere)."""
    import os

    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0
