"""Accelerator and CPU peak-FLOPS data with datasheet sources: what the control plane counts capacity with."""

from suanli.catalog.accelerators import (
    MEMORY_MAX_RATIO,
    MEMORY_MIN_RATIO,
    PRECISIONS,
    AcceleratorSpec,
    DatasheetSource,
    accelerator_specs,
    match_accelerator,
    memory_consistent,
    normalize_model_name,
    spec_by_key,
)
from suanli.catalog.cpu import CpuPeakFlops, cpu_peak_flops

__all__ = [
    "MEMORY_MAX_RATIO",
    "MEMORY_MIN_RATIO",
    "PRECISIONS",
    "AcceleratorSpec",
    "CpuPeakFlops",
    "DatasheetSource",
    "accelerator_specs",
    "cpu_peak_flops",
    "match_accelerator",
    "memory_consistent",
    "normalize_model_name",
    "spec_by_key",
]
