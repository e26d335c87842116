"""Certified accelerators per vendor: devices and datasheet FLOPS, from a capacity's catalog model counts."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from suanli.catalog import AcceleratorSpec, accelerator_specs
from suanli.schema.national import PRECISIONS, Flops, VendorSupply

# Certificates name catalog models only; one the catalog has since dropped keeps its devices here.
UNKNOWN_VENDOR = "unknown"


@lru_cache(maxsize=1)
def _specs_by_model() -> dict[str, AcceleratorSpec]:
    return {spec.model: spec for spec in accelerator_specs()}


def vendor_supply(accelerators: Mapping[str, int]) -> dict[str, VendorSupply]:
    """Per vendor, the devices of `accelerators` (catalog model → count) and their peak FLOPS per precision.

    A null datasheet figure adds nothing and counts the devices under `accelerators_without_flops`,
    so a vendor without citable figures shows its devices, not a zero that looks measured.
    """
    specs = _specs_by_model()
    devices: dict[str, int] = {}
    flops: dict[str, dict[str, float]] = {}
    without: dict[str, dict[str, int]] = {}
    for model, count in sorted(accelerators.items()):
        spec = specs.get(model)
        vendor = spec.vendor if spec else UNKNOWN_VENDOR
        devices[vendor] = devices.get(vendor, 0) + count
        vendor_flops = flops.setdefault(vendor, dict.fromkeys(PRECISIONS, 0.0))
        vendor_without = without.setdefault(vendor, dict.fromkeys(PRECISIONS, 0))
        for precision in PRECISIONS:
            figure = spec.peak_flops.get(precision) if spec else None
            if figure is None:
                vendor_without[precision] += count
            else:
                vendor_flops[precision] += count * figure
    return {
        vendor: VendorSupply(accelerators=count, flops=Flops(**flops[vendor]), accelerators_without_flops=without[vendor])
        for vendor, count in sorted(devices.items())
    }
