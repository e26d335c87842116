"""Kernel-visible names for the control plane's own threads, so `top -H`, `ps -L`, py-spy and
/proc tell the ingest writer, the WAL checkpointer and the readers apart (Python 3.11 names a
thread for Python only: the kernel shows every one of them as "python")."""

from __future__ import annotations

import threading

KERNEL_NAME_MAX_BYTES = 15  # TASK_COMM_LEN less its NUL


def name_this_thread(name: str) -> None:
    """Name the calling thread `name` (cut to 15 bytes) in /proc/self/task/TID/comm. Linux only:
    elsewhere, or where /proc cannot be written, the thread keeps its name and nothing fails."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "wb") as comm:
            comm.write(name.encode()[:KERNEL_NAME_MAX_BYTES])
    except OSError:
        pass
