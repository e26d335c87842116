"""`GET /v1/capacity`: live capacity aggregates grouped and filtered for operators."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from suanli.schema.common import AwareDatetime, ContractModel

CapacityGroupBy = Literal["province", "datacenter", "rack", "accelerator_model", "vendor"]
STANDARD_RACK_KW = 2.5
Count = Annotated[int, Field(ge=0)]


class AcceleratorModelCount(ContractModel):
    """Accelerators of one model: `known` is False for models the catalog lacks (no FLOPS counted)."""

    vendor: str
    model: str
    known: bool
    total: Count
    in_use: Count


class CapacityFigures(ContractModel):
    """Everything counted for one group (or for the whole scope, as `total`)."""

    nodes: Count = 0
    cpu_physical_cores: Count = 0
    cpu_logical_cores: Count = 0
    memory_bytes: Count = 0
    accelerators_total: Count = 0
    accelerators_in_use: Count = 0
    accelerators_unknown: Count = 0
    accelerators: list[AcceleratorModelCount] = Field(default_factory=list)
    unknown_accelerator_models: list[str] = Field(default_factory=list)
    # Dense peak FLOPS (OPS for int8) per precision: accelerators from datasheets plus CPUs.
    flops: dict[str, float] = Field(default_factory=dict)
    # Per precision, devices of catalogued models whose datasheet gives no figure there (null in
    # the catalog): counted in accelerators_total, adding nothing to `flops`. Unknown models are
    # in accelerators_unknown instead.
    accelerators_without_flops: dict[str, Count] = Field(default_factory=dict)
    storage_local_bytes: Count = 0
    # Network filesystems counted once per source however many nodes mount them.
    storage_network_bytes: Count = 0
    storage_bytes: Count = 0
    ports_400g: Count = Field(0, description="ports at 400 Gb/s or faster")
    ports_200g: Count = Field(0, description="ports at 200 Gb/s up to 400 Gb/s")
    ports_100g: Count = Field(0, description="ports at 100 Gb/s up to 200 Gb/s")
    # From the rack registry; null where a group is not a place (grouping by accelerator).
    rated_kw: float | None = None
    standard_racks: float | None = None


class CapacityGroup(CapacityFigures):
    """One group; the keys that define it are set, the others null."""

    province: str | None = None
    datacenter: str | None = None
    rack: str | None = None
    vendor: str | None = None
    accelerator_model: str | None = None


class CapacityResponse(ContractModel):
    by: CapacityGroupBy
    filters: dict[str, str | list[str]]
    in_use_threshold_percent: float
    standard_rack_kw: float = STANDARD_RACK_KW
    generated_at: AwareDatetime
    groups: list[CapacityGroup]
    total: CapacityFigures
