"""What the benches read of another process from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def stat_cpu_s(stat_path: Path) -> float:
    """User + system CPU seconds from a /proc stat file: a process's (/proc/PID/stat, all its
    threads) or one thread's (/proc/PID/task/TID/stat)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far, all its threads."""
    return stat_cpu_s(Path(f"/proc/{pid}/stat"))
