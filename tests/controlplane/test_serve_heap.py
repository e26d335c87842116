"""`suanli serve` tunes its process after start-up: start-up objects frozen, young collections rare."""

from __future__ import annotations

import gc

from suanli.controlplane.serve import GC_YOUNG_THRESHOLD, _settle_heap


async def test_settle_heap_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    threshold = gc.get_threshold()
    try:
        await _settle_heap(None)  # type: ignore[arg-type]  # the app is not used
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, threshold[1], threshold[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
