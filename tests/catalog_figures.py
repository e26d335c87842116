"""What the catalog says a set of devices adds up to: the figures capacity and summary tests expect."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from suanli.catalog import match_accelerator
from suanli.schema import Accelerator


def catalog_figures(devices: Iterable[Accelerator], precisions: Iterable[str],
                    key: Callable[[Any], Hashable]) -> dict[Hashable, dict[str, Any]]:
    """Per `key(catalog entry)`: the entry's key, devices, summed non-null peak FLOPS and devices
    whose datasheet gives no figure, per precision. Every device must be in the catalog."""
    precisions = tuple(precisions)
    figures: dict[Hashable, dict[str, Any]] = {}
    for device in devices:
        spec = match_accelerator(device.vendor, device.model or "", device.memory_total_bytes)
        assert spec is not None, device.model
        entry = figures.setdefault(key(spec), {
            "key": spec.key, "count": 0, "flops": dict.fromkeys(precisions, 0.0), "without": dict.fromkeys(precisions, 0),
        })
        entry["count"] += 1
        for precision in precisions:
            figure = spec.peak_flops.get(precision)
            if figure is None:
                entry["without"][precision] += 1
            else:
                entry["flops"][precision] += figure
    return figures
