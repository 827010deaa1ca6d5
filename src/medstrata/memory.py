"""Hand freed heap memory back to the operating system between the large steps of a run.

glibc's allocator raises its mmap threshold after a large block is freed (up to 32 MiB), so the
arrays and tensors of one step (a model's training batches, a method's distance matrices) come from
the heap afterwards, and the heap keeps their pages when they are freed. Over the cells of a run one
process's resident set then grows with every task it has seen, although nothing is still in use
(benchmarks/RESULTS.md, section 4: 2,876-3,096 MiB for the quick suite before this). :func:`release` calls glibc's
``malloc_trim(0)`` where there is one, which returns the free pages; it changes no number.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim`` or None (macOS, musl, Windows); looked up once per process."""
    try:
        fn = getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim", None)
    except OSError:
        return None
    if fn is not None:
        fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


def release() -> bool:
    """Collect garbage, then give the heap's free pages back; True when glibc's trim ran."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

