"""``memory.release`` gives freed heap pages back to the OS (glibc), which bounds a run's peak RSS."""

from __future__ import annotations

import pytest

from medstrata import memory


def test_release_returns_fragmented_free_heap_pages():
    if memory.resident_mib() == 0.0 or memory._malloc_trim() is None:
        pytest.skip("needs Linux /proc and glibc's malloc_trim")
    # 2,400 blocks of 96 KiB (under glibc's mmap threshold, so on the heap); keeping every 8th
    # alive fragments the heap, so free() alone cannot shrink it from the top.
    blocks = [bytearray(96 * 1024) for _ in range(2400)]
    for b in blocks:
        b[::4096] = b"\1" * len(b[::4096])  # touch every page
    kept = blocks[::8]
    del blocks
    before = memory.resident_mib()
    assert memory.release() is True
    after = memory.resident_mib()
    assert before - after > 100, (before, after)  # ~197 MiB were freed; most of it must go back
    assert sum(len(b) for b in kept) == 300 * 96 * 1024  # the live blocks are untouched


def test_resident_is_a_plausible_size():
    rss = memory.resident_mib()
    assert rss == 0.0 or 10 < rss < 100_000
