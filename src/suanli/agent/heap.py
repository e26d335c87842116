"""Hand the C heap's free pages back to the kernel after a cycle, so an idle agent keeps only what it uses."""

from __future__ import annotations

import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl gives memory back itself)."""
    try:
        import ctypes  # here: the agent loads ctypes anyway (suanli.agent.nvml), other users need not

        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


def release_free_heap() -> None:
    """Return the heap's free pages (between and above live blocks) to the kernel.

    A cycle's temporary buffers (JSON, SQLite, TLS records) are freed into glibc's heap, which keeps
    the pages; the agent then sleeps 30 s holding them. malloc_trim(0) unmaps the free pages of every
    arena, ~0.5 MB resident (bench/RESULTS.md, agent_footprint), for a few tens of microseconds.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
