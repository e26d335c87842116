"""release_free_heap gives freed heap pages back on glibc and does nothing where there is no malloc_trim."""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path

import pytest

from suanli.agent import heap


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_holes_in_the_heap_are_returned() -> None:
    # 100 KiB blocks stay below glibc's mmap threshold, so they come from the heap; every other one
    # stays alive, so the freed half is holes the heap cannot shrink past by itself.
    blocks = [bytearray(100 * 1024) for _ in range(400)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    del blocks[::2]
    before = _rss_bytes()
    heap.release_free_heap()
    assert before - _rss_bytes() >= 8 * 1024 * 1024  # of the ~20 MB freed
    assert len(blocks) == 200


def test_a_c_library_without_malloc_trim_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoTrim:
        def __init__(self, name: object) -> None:
            pass

    heap._malloc_trim.cache_clear()
    monkeypatch.setattr(ctypes, "CDLL", NoTrim)
    try:
        assert heap._malloc_trim() is None
        heap.release_free_heap()
    finally:
        heap._malloc_trim.cache_clear()
