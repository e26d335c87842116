"""`suanli serve` tunes its process after start-up: start-up objects frozen, young collections rare,
and on SQLite the GIL handed back to the writer thread sooner."""

from __future__ import annotations

import gc
import sys

from suanli.controlplane.serve import GC_YOUNG_THRESHOLD, SQLITE_GIL_SWITCH_INTERVAL_S, _hand_the_gil_back_sooner, _settle_heap


async def test_settle_heap_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    threshold = gc.get_threshold()
    try:
        await _settle_heap(None)  # type: ignore[arg-type]  # the app is not used
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, threshold[1], threshold[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def test_the_gil_switch_interval_is_shortened_for_the_sqlite_writer() -> None:
    interval = sys.getswitchinterval()
    try:
        await _hand_the_gil_back_sooner(None)  # type: ignore[arg-type]  # the app is not used
        assert sys.getswitchinterval() == SQLITE_GIL_SWITCH_INTERVAL_S < interval
    finally:
        sys.setswitchinterval(interval)
