"""One simulated server's inventory, as a real agent on that hardware would report it."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from suanli.schema import (
    Accelerator,
    AcceleratorBackendStatus,
    BlockDevice,
    CollectorStatus,
    CpuInfo,
    Filesystem,
    HostIdentity,
    InterfaceKind,
    Inventory,
    Location,
    MemoryInfo,
    NetworkInterface,
)
from suanli.sim.hardware import ACCELERATORS, CPUS, SHAPES, TB, AcceleratorModel, ServerShape

if TYPE_CHECKING:
    from suanli.sim.fleet import NodePlan

NFS_EXPORTS_PER_DATACENTER = 4
SYSTEM_DISK_BYTES = 480_103_981_056  # a 480 GB SATA SSD as the kernel sizes it
ROOT_FS_BYTES = 470_000_000_000
_OS_BY_ARCH = {"x86_64": ("Ubuntu 22.04.4 LTS", "5.15.0-105-generic"),
               "aarch64": ("openEuler 22.03 (LTS-SP3)", "5.10.0-182.0.0.95.oe2203sp3.aarch64")}
_COLLECTORS = ("host", "location", "cpu", "memory", "accelerators", "storage", "network")
_LOST_GPU_ERROR = ("Unable to determine the device handle for GPU {bus}: GPU is lost. "
                   "Reboot the system to recover this GPU")


def digest(seed: int, index: int, what: str, size: int = 16) -> str:
    """A stable hex identity for (seed, node, purpose): unique across nodes, same on every run."""
    return hashlib.blake2b(f"{seed}|{index}|{what}".encode(), digest_size=size).hexdigest()


def _uuid_text(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def nfs_export(seed: int, datacenter: str, number: int) -> tuple[str, int]:
    """Export `number` of a data center: its normalized `server:/path` source and its size in bytes."""
    size_tb = random.Random(f"{seed}:nfs:{datacenter}:{number}").choice((200, 500, 1000))
    return f"nfs{number}.{datacenter}.example.cn:/export/share{number}", size_tb * TB


def _host(seed: int, plan: NodePlan, shape: ServerShape, identity: int) -> HostIdentity:
    arch = CPUS[shape.cpu].architecture
    os_name, kernel = _OS_BY_ARCH[arch]
    if CPUS[shape.cpu].vendor == "HygonGenuine":
        os_name, kernel = "Kylin Linux Advanced Server V10 (Sword)", "4.19.90-52.22.v2207.ky10.x86_64"
    boot_s = int(digest(seed, plan.index, "boot", 4), 16) % (90 * 86400)
    return HostIdentity(
        hostname=f"{plan.datacenter}-{shape.role}-{plan.index:06d}",
        machine_id=digest(seed, identity, "machine-id"),
        dmi_product_uuid=_uuid_text(digest(seed, identity, "dmi-uuid")).upper(),
        dmi_product_serial=digest(seed, identity, "dmi-serial", 6).upper(),
        dmi_product_name=shape.dmi_product,
        dmi_sys_vendor=shape.dmi_vendor,
        os_name=os_name,
        kernel_release=kernel,
        architecture=arch,
        boot_time=datetime(2026, 11, 1, tzinfo=timezone.utc) - timedelta(seconds=boot_s),
    )


def _cpu(shape: ServerShape) -> CpuInfo:
    cpu = CPUS[shape.cpu]
    physical = cpu.cores_per_socket * shape.sockets
    return CpuInfo(model=cpu.model, vendor=cpu.vendor, architecture=cpu.architecture, sockets=shape.sockets,
                   physical_cores=physical, logical_cores=physical * cpu.threads_per_core,
                   base_mhz=cpu.base_mhz, max_mhz=cpu.max_mhz, isa_features=list(cpu.isa_features))


def _accelerator(seed: int, identity: int, model: AcceleratorModel, index: int, lost: bool) -> Accelerator:
    bus = f"00000000:{0x18 + 0x10 * index:02X}:00.0"
    if lost:
        return Accelerator(vendor=model.vendor, index=index, pci_bus_id=bus, error=_LOST_GPU_ERROR.format(bus=bus))
    if model.vendor == "nvidia":
        uuid = "GPU-" + _uuid_text(digest(seed, identity, f"gpu-uuid-{index}"))
        serial = str(int(digest(seed, identity, f"gpu-serial-{index}", 6), 16) % 10**13).zfill(13)
    else:
        serial = digest(seed, identity, f"npu-serial-{index}", 8).upper()
        uuid = serial
    return Accelerator(
        vendor=model.vendor, index=index, model=model.model, uuid=uuid, serial=serial, pci_bus_id=bus,
        memory_total_bytes=model.memory_total_bytes, compute_capability=model.compute_capability,
        power_limit_w=model.power_limit_w, mig_enabled=False if model.vendor == "nvidia" else None,
        driver_version=model.driver_version, cuda_version=model.cuda_version,
    )


def _accelerators(seed: int, shape: ServerShape, identity: int, lost_gpu: int | None) -> tuple[list, list]:
    if shape.accelerator is None:
        backends = [AcceleratorBackendStatus(name="nvml", available=False,
                                             reason="NVML Shared Library Not Found")]
        return [], backends
    model = ACCELERATORS[shape.accelerator]
    devices = [_accelerator(seed, identity, model, i, i == lost_gpu) for i in range(shape.accelerator_count)]
    backend = "nvml" if model.vendor == "nvidia" else "ascend"
    return devices, [AcceleratorBackendStatus(name=backend, available=True, device_count=len(devices))]


def _disk_name(media: str, number: int) -> str:
    if media == "nvme":
        return f"nvme{number}n1"
    letters = ""
    number += 2  # sda and sdb are the mirrored system disks
    while True:
        letters = chr(ord("a") + number % 26) + letters
        number = number // 26 - 1
        if number < 0:
            return "sd" + letters


def _storage(seed: int, plan: NodePlan, shape: ServerShape, identity: int) -> tuple[list, list]:
    disks = [BlockDevice(name=f"sd{letter}", model="SAMSUNG MZ7L3480HCHQ-00A07",
                         serial=f"S6K{digest(seed, identity, f'sys-{letter}', 5).upper()}",
                         size_bytes=SYSTEM_DISK_BYTES, rotational=False, media="ssd") for letter in "ab"]
    data_model = {"hdd": "ST18000NM000J-2TV103", "ssd": "INTEL SSDSC2KG960G8",
                  "nvme": "SAMSUNG MZQL23T8HCLS-00A07"}[shape.data_disk_media]
    for number in range(shape.data_disks):
        disks.append(BlockDevice(
            name=_disk_name(shape.data_disk_media, number), model=data_model,
            serial=f"ZR{digest(seed, identity, f'data-{number}', 6).upper()}", size_bytes=shape.data_disk_bytes,
            rotational=shape.data_disk_media == "hdd", media=shape.data_disk_media))
    filesystems = [Filesystem(mountpoint="/", device="/dev/md0", fstype="ext4", size_bytes=ROOT_FS_BYTES,
                              used_bytes=ROOT_FS_BYTES // 5, available_bytes=ROOT_FS_BYTES * 3 // 4)]
    if shape.role == "storage":
        for disk in disks[2:]:
            size = disk.size_bytes * 99 // 100
            filesystems.append(Filesystem(mountpoint=f"/data/{disk.name}", device=f"/dev/{disk.name}",
                                          fstype="xfs", size_bytes=size, used_bytes=size // 2,
                                          available_bytes=size - size // 2))
    else:
        filesystems.extend(_nfs_mounts(seed, plan))
    return disks, filesystems


def _nfs_mounts(seed: int, plan: NodePlan) -> list[Filesystem]:
    """One or two of the data center's shared exports, mounted as many nodes mount them."""
    rng = random.Random(f"{seed}:mounts:{plan.index}")
    numbers = sorted(rng.sample(range(NFS_EXPORTS_PER_DATACENTER), rng.choice((1, 2))))
    mounts = []
    for number in numbers:
        source, size = nfs_export(seed, plan.datacenter, number)
        mounts.append(Filesystem(mountpoint=f"/mnt/share{number}", device=source, fstype="nfs4",
                                 size_bytes=size, used_bytes=size * 3 // 5, available_bytes=size * 2 // 5,
                                 is_network=True, network_source=source))
    return mounts


def _mac(seed: int, identity: int, port: str) -> str:
    raw = digest(seed, identity, f"mac-{port}", 5)
    return ":".join(["b8"] + [raw[i:i + 2] for i in range(0, 10, 2)])


def _network(seed: int, shape: ServerShape, identity: int) -> list[NetworkInterface]:
    ports = [NetworkInterface(name="eno1", mac_address=_mac(seed, identity, "eno1"), link_up=True,
                              speed_mbps=1000, mtu=1500)]
    for number, speed_gbps in enumerate(shape.nic_speeds_gbps):
        name = f"ens{1 + number // 2}f{number % 2}np{number % 2}"
        ports.append(NetworkInterface(name=name, mac_address=_mac(seed, identity, name), link_up=True,
                                      speed_mbps=speed_gbps * 1000, mtu=9000))
    for number in range(shape.ib_ports):
        ports.append(NetworkInterface(
            name=f"ibp{number}s0", kind=InterfaceKind.INFINIBAND, link_up=True, speed_mbps=400_000, mtu=4092,
            ib_device=f"mlx5_{number}", ib_port=1, ib_rate_gbps=400.0, ib_state="ACTIVE"))
    return ports


def build_inventory(seed: int, plan: NodePlan, *, lost_gpu: int | None = None,
                    identity_of: int | None = None) -> Inventory:
    """The inventory of one planned node; `identity_of` makes it claim another node's hardware identities."""
    shape = SHAPES[plan.shape]
    identity = plan.index if identity_of is None else identity_of
    accelerators, backends = _accelerators(seed, shape, identity, lost_gpu)
    disks, filesystems = _storage(seed, plan, shape, identity)
    memory_bytes = shape.memory_bytes - shape.memory_bytes // 64  # firmware and kernel reserve a little
    return Inventory(
        host=_host(seed, plan, shape, identity),
        location=Location(province=plan.province, datacenter=plan.datacenter, room=plan.room, rack=plan.rack,
                          rack_unit=plan.rack_unit),
        cpu=_cpu(shape),
        memory=MemoryInfo(total_bytes=memory_bytes),
        accelerators=accelerators,
        accelerator_backends=backends,
        block_devices=disks,
        filesystems=filesystems,
        network_interfaces=_network(seed, shape, identity),
        collectors=[CollectorStatus(name=name, state="ok", duration_ms=0.4) for name in _COLLECTORS],
    )
