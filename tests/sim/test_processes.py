"""Process accounting used by bench/scale.py: CPU seconds and resident memory from /proc."""

from __future__ import annotations

import os
import sys

import pytest

from suanli.sim.processes import cpu_seconds, rss_bytes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def test_cpu_seconds_grow_with_work_and_rss_is_this_process() -> None:
    before = cpu_seconds(os.getpid())
    total = 0
    while cpu_seconds(os.getpid()) - before < 0.05:  # tick granularity is 10 ms
        total += sum(range(10_000))
    assert cpu_seconds(os.getpid()) > before
    assert 10 * 2**20 < rss_bytes(os.getpid()) < 16 * 2**30


def test_a_process_that_is_gone_reads_as_zero() -> None:
    assert cpu_seconds(2**22 + 7) == 0.0 and rss_bytes(2**22 + 7) == 0
