"""``memory.release`` gives freed heap pages back to the OS (glibc), which bounds a run's peak RSS."""

from __future__ import annotations

import os

import pytest

from medstrata import memory


def resident_mib() -> float:
    """This process's current resident set in MiB (Linux ``/proc/self/statm``; 0.0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def test_release_returns_fragmented_free_heap_pages():
    if resident_mib() == 0.0 or memory._malloc_trim() is None:
        pytest.skip("needs Linux /proc and glibc's malloc_trim")
    # 2,400 blocks of 96 KiB (under glibc's mmap threshold, so on the heap); keeping every 8th
    # alive fragments the heap, so free() alone cannot shrink it from the top.
    blocks = [bytearray(96 * 1024) for _ in range(2400)]
    for b in blocks:
        b[::4096] = b"\1" * len(b[::4096])  # touch every page
    kept = blocks[::8]
    del blocks
    before = resident_mib()
    assert memory.release() is True
    after = resident_mib()
    assert before - after > 100, (before, after)  # ~197 MiB were freed; most of it must go back
    assert sum(len(b) for b in kept) == 300 * 96 * 1024  # the live blocks are untouched


def test_resident_is_a_plausible_size():
    rss = resident_mib()
    assert rss == 0.0 or 10 < rss < 100_000
