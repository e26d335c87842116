"""Tests of the memory collector."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.agent.collectors.base import CollectContext
from suanli.agent.collectors.memory import MemoryCollector, available_bytes, parse_meminfo

MEMINFO = "MemTotal:       24684096 kB\nMemFree:        24149320 kB\nMemAvailable:   24128728 kB\n" \
          "Buffers:            2940 kB\nCached:           175788 kB\nSwapTotal:       1048572 kB\nHugePages_Total: 0\n"


def test_parse_meminfo_in_bytes() -> None:
    values = parse_meminfo(MEMINFO)
    assert values["MemTotal"] == 24684096 * 1024
    assert values["SwapTotal"] == 1048572 * 1024
    assert "HugePages_Total" not in values


def test_available_falls_back_on_old_kernels() -> None:
    old = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 20 kB\nCached: 300 kB\n")
    assert available_bytes(old) == 420 * 1024


def test_inventory_and_usage_on_captured_tree(host_context) -> None:
    context = host_context("captured-vm")
    collector = MemoryCollector()
    assert collector.inventory(context) == {"memory": {"total_bytes": 24684096 * 1024, "swap_total_bytes": 0}}
    usage = collector.usage(context)
    assert usage["memory_available_bytes"] == 23984932 * 1024
    assert usage["memory_used_bytes"] == (24684096 - 23984932) * 1024


def test_missing_memtotal_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemFree: 1 kB\n")
    with pytest.raises(ValueError, match="MemTotal"):
        MemoryCollector().inventory(CollectContext(proc_root=tmp_path))
