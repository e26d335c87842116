"""Inventory: the slow facts of a node (identity, location, CPU, memory, accelerators, storage, network)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

from pydantic import Field

from suanli.schema.common import (
    MAX_CORES,
    MAX_LIST_ITEMS,
    MAX_MHZ,
    MAX_SOCKETS,
    MAX_SPEED_MBPS,
    AcceleratorBytes,
    AwareDatetime,
    ContractModel,
    DeviceBytes,
    LongText,
    MemoryBytes,
    Name,
    OptionalText,
    PowerWatts,
    ProvinceCode,
)


class CollectorState(str, Enum):
    """How one collector's run ended."""

    OK = "ok"
    NO_DATA = "no_data"
    ERROR = "error"
    TIMEOUT = "timeout"
    DISABLED = "disabled"


class CollectorStatus(ContractModel):
    """What one collector did during this collection, so operators see why data is missing."""

    name: Name
    state: CollectorState
    duration_ms: Annotated[float, Field(ge=0.0, le=3_600_000.0)]
    message: LongText = None


class HostIdentity(ContractModel):
    hostname: Name
    machine_id: Annotated[str | None, Field(default=None, pattern=r"^[0-9a-f]{32}$")] = None
    dmi_product_uuid: OptionalText = None
    dmi_product_serial: OptionalText = None
    dmi_product_name: OptionalText = None
    dmi_sys_vendor: OptionalText = None
    os_name: OptionalText = None
    kernel_release: OptionalText = None
    architecture: OptionalText = None
    boot_time: AwareDatetime | None = None


class Location(ContractModel):
    """Where the node is, as configured by data-center staff (never guessed by the agent)."""

    province: ProvinceCode | None = None
    datacenter: OptionalText = None
    room: OptionalText = None
    rack: OptionalText = None
    rack_unit: Annotated[int | None, Field(default=None, ge=1, le=100)] = None


class CpuInfo(ContractModel):
    model: OptionalText = None
    vendor: OptionalText = None
    architecture: OptionalText = None
    sockets: Annotated[int, Field(ge=1, le=MAX_SOCKETS)]
    physical_cores: Annotated[int, Field(ge=1, le=MAX_CORES)]
    logical_cores: Annotated[int, Field(ge=1, le=MAX_CORES * 8)]
    base_mhz: Annotated[float | None, Field(default=None, gt=0.0, le=MAX_MHZ)] = None
    max_mhz: Annotated[float | None, Field(default=None, gt=0.0, le=MAX_MHZ)] = None
    # ISA features that matter for peak FLOPS (sse4_2, avx, avx2, fma, avx512f, amx_tile, ...).
    isa_features: Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=256, default_factory=list)]


class MemoryInfo(ContractModel):
    total_bytes: MemoryBytes
    swap_total_bytes: MemoryBytes = 0


class AcceleratorVendor(str, Enum):
    NVIDIA = "nvidia"
    HUAWEI = "huawei"
    HYGON = "hygon"
    CAMBRICON = "cambricon"
    OTHER = "other"


class Accelerator(ContractModel):
    """One accelerator as the vendor's management library reports it; FLOPS come from the catalog."""

    vendor: AcceleratorVendor
    index: Annotated[int, Field(ge=0, le=1024)]
    model: OptionalText = None
    # A stable identity for the device: NVML UUID, Ascend chip serial, ... Null only when lost.
    uuid: OptionalText = None
    serial: OptionalText = None
    pci_bus_id: OptionalText = None
    memory_total_bytes: AcceleratorBytes | None = None
    compute_capability: Annotated[str | None, Field(default=None, max_length=16)] = None
    power_limit_w: PowerWatts | None = None
    mig_enabled: bool | None = None
    driver_version: Annotated[str | None, Field(default=None, max_length=64)] = None
    cuda_version: Annotated[str | None, Field(default=None, max_length=64)] = None
    # Set when the device was seen but could not be read (GPU fallen off the bus, ...).
    error: LongText = None


class AcceleratorBackendStatus(ContractModel):
    """Whether one accelerator backend (nvml, ascend, ...) could look, and why not."""

    name: Annotated[str, Field(min_length=1, max_length=32)]
    available: bool
    device_count: Annotated[int, Field(ge=0, le=1024)] = 0
    reason: LongText = None


class StorageMedia(str, Enum):
    HDD = "hdd"
    SSD = "ssd"
    NVME = "nvme"
    UNKNOWN = "unknown"


class BlockDevice(ContractModel):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    model: OptionalText = None
    serial: OptionalText = None
    size_bytes: DeviceBytes
    rotational: bool | None = None
    media: StorageMedia = StorageMedia.UNKNOWN
    removable: bool = False


class Filesystem(ContractModel):
    mountpoint: Annotated[str, Field(min_length=1, max_length=1024)]
    device: Annotated[str, Field(min_length=1, max_length=1024)]
    fstype: Annotated[str, Field(min_length=1, max_length=64)]
    size_bytes: DeviceBytes
    used_bytes: DeviceBytes
    available_bytes: DeviceBytes
    is_network: bool = False
    # For network filesystems: a normalized "server:/export" (or cluster id) so the same export
    # mounted on many nodes is counted once by the control plane.
    network_source: Annotated[str | None, Field(default=None, max_length=1024)] = None


class InterfaceKind(str, Enum):
    ETHERNET = "ethernet"
    INFINIBAND = "infiniband"
    OTHER = "other"


class NetworkInterface(ContractModel):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    kind: InterfaceKind = InterfaceKind.ETHERNET
    mac_address: Annotated[str | None, Field(default=None, max_length=64)] = None
    link_up: bool = False
    speed_mbps: Annotated[int | None, Field(default=None, ge=0, le=MAX_SPEED_MBPS)] = None
    mtu: Annotated[int | None, Field(default=None, ge=0, le=65536)] = None
    # InfiniBand ports (from /sys/class/infiniband/<dev>/ports/<n>/rate): e.g. "mlx5_0", 1, 400.
    ib_device: Annotated[str | None, Field(default=None, max_length=64)] = None
    ib_port: Annotated[int | None, Field(default=None, ge=0, le=64)] = None
    ib_rate_gbps: Annotated[float | None, Field(default=None, ge=0.0, le=MAX_SPEED_MBPS / 1000)] = None
    ib_state: Annotated[str | None, Field(default=None, max_length=32)] = None


class Inventory(ContractModel):
    """Everything slow about a node; sent at start, periodically and whenever its hash changes."""

    host: HostIdentity
    location: Location = Field(default_factory=Location)
    cpu: CpuInfo | None = None
    memory: MemoryInfo | None = None
    accelerators: Annotated[list[Accelerator], Field(max_length=1024, default_factory=list)]
    accelerator_backends: Annotated[list[AcceleratorBackendStatus], Field(max_length=16, default_factory=list)]
    block_devices: Annotated[list[BlockDevice], Field(max_length=MAX_LIST_ITEMS, default_factory=list)]
    filesystems: Annotated[list[Filesystem], Field(max_length=MAX_LIST_ITEMS, default_factory=list)]
    network_interfaces: Annotated[list[NetworkInterface], Field(max_length=MAX_LIST_ITEMS, default_factory=list)]
    collectors: Annotated[list[CollectorStatus], Field(max_length=64, default_factory=list)]


__all__ = [
    "Accelerator",
    "AcceleratorBackendStatus",
    "AcceleratorVendor",
    "BlockDevice",
    "CollectorState",
    "CollectorStatus",
    "CpuInfo",
    "Filesystem",
    "HostIdentity",
    "InterfaceKind",
    "Inventory",
    "Location",
    "MemoryInfo",
    "NetworkInterface",
    "StorageMedia",
]
