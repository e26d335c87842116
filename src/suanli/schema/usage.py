"""Usage: the fast-changing measurements of a node, sent every usage interval (~30 s)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from suanli.schema.common import (
    MAX_LIST_ITEMS,
    AcceleratorBytes,
    Celsius,
    ContractModel,
    DeviceBytes,
    LongText,
    MemoryBytes,
    OptionalText,
    Percent,
    PowerWatts,
)
from suanli.schema.inventory import CollectorStatus

ErrorCount = Annotated[int, Field(ge=0, le=2**62)]


class AcceleratorUsage(ContractModel):
    index: Annotated[int, Field(ge=0, le=1024)]
    uuid: OptionalText = None
    utilization_percent: Percent | None = None
    memory_used_bytes: AcceleratorBytes | None = None
    power_w: PowerWatts | None = None
    temperature_c: Celsius | None = None
    # Volatile (since driver load) ECC counts; uncorrected errors take a device out of certification.
    ecc_corrected_errors: ErrorCount | None = None
    ecc_uncorrected_errors: ErrorCount | None = None
    # Pages retired or rows remapped after errors, and the last XID-style error code seen.
    retired_pages: ErrorCount | None = None
    last_xid: Annotated[int | None, Field(default=None, ge=0, le=2**31)] = None
    error: LongText = None


class FilesystemUsage(ContractModel):
    mountpoint: Annotated[str, Field(min_length=1, max_length=1024)]
    size_bytes: DeviceBytes
    used_bytes: DeviceBytes


class Usage(ContractModel):
    cpu_percent: Percent | None = None
    load_1m: Annotated[float | None, Field(default=None, ge=0.0, le=1e6)] = None
    load_5m: Annotated[float | None, Field(default=None, ge=0.0, le=1e6)] = None
    load_15m: Annotated[float | None, Field(default=None, ge=0.0, le=1e6)] = None
    memory_used_bytes: MemoryBytes | None = None
    memory_available_bytes: MemoryBytes | None = None
    accelerators: Annotated[list[AcceleratorUsage], Field(max_length=1024, default_factory=list)]
    filesystems: Annotated[list[FilesystemUsage], Field(max_length=MAX_LIST_ITEMS, default_factory=list)]
    collectors: Annotated[list[CollectorStatus], Field(max_length=64, default_factory=list)]
