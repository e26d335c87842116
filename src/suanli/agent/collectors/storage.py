"""Storage: physical block devices (model, serial, size, media) and mounted filesystems with their use."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext, Collector
from suanli.agent.filesystems import MountStatter, filesystem_fields, parse_mounts, storage_mounts
from suanli.agent.sysfs import list_dir, read_int, read_line, read_text
from suanli.agent.workers import WorkerPool

# Devices layered on other devices or on memory: counting them would count capacity twice
# (dm, md over physical disks; rbd, nbd over the network) or count RAM (ram, zram) or nothing (loop).
SKIPPED_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "nbd", "rbd", "sr", "fd", "drbd")
# virtio and Xen disks report rotational=1 whatever backs them: the media is not known.
PARAVIRTUAL_PREFIXES = ("vd", "xvd")
SECTOR_BYTES = 512  # /sys/block/<dev>/size counts 512-byte sectors whatever the device's block size
DEFAULT_STATVFS_TIMEOUT_S = 2.0


def is_physical_disk(sys_root: Path, name: str) -> bool:
    """Whether /sys/block/<name> is a disk to count (not virtual, layered or a hidden NVMe path)."""
    if name.startswith(SKIPPED_PREFIXES):
        return False
    if (sys_root / "devices" / "virtual" / "block" / name).exists():
        return False
    # Native NVMe multipath shows each controller path (nvme0c1n1) as hidden beside the namespace.
    return read_int(sys_root / "block" / name / "hidden") != 1


def parse_vpd_serial(data: bytes) -> str | None:
    """The unit serial number from a SCSI VPD page 0x80 (4-byte header, then ASCII)."""
    if len(data) < 4 or data[1] != 0x80:
        return None
    length = int.from_bytes(data[2:4], "big")
    serial = data[4 : 4 + length].decode("ascii", errors="replace").strip(" \x00")
    return serial or None


def _read_serial(block: Path) -> str | None:
    """NVMe and some SCSI drivers expose device/serial, virtio block/serial, SATA/SAS only VPD 0x80."""
    serial = read_line(block / "device" / "serial") or read_line(block / "serial")
    if serial:
        return serial
    try:
        return parse_vpd_serial((block / "device" / "vpd_pg80").read_bytes())
    except OSError:
        return None


def media_of(name: str, rotational: int | None) -> str:
    """nvme, hdd, ssd, or unknown when the kernel's rotational flag says nothing real."""
    if name.startswith("nvme"):
        return "nvme"
    if name.startswith(PARAVIRTUAL_PREFIXES) or rotational is None:
        return "unknown"
    return "hdd" if rotational == 1 else "ssd"


def read_block_device(sys_root: Path, name: str) -> dict[str, Any] | None:
    """One block device's inventory fields, or None for an empty device (card reader, no disc)."""
    block = sys_root / "block" / name
    sectors = read_int(block / "size")
    if not sectors:
        return None
    rotational = read_int(block / "queue" / "rotational")
    return {
        "name": name,
        "model": read_line(block / "device" / "model"),
        "serial": _read_serial(block),
        "size_bytes": sectors * SECTOR_BYTES,
        "rotational": None if rotational is None else rotational == 1,
        "media": media_of(name, rotational),
        "removable": read_int(block / "removable") == 1,
    }


def read_block_devices(sys_root: Path) -> list[dict[str, Any]]:
    """Every physical disk under /sys/block (partitions live below their disk, so are not listed)."""
    devices = []
    for name in list_dir(sys_root / "block"):
        if is_physical_disk(sys_root, name):
            device = read_block_device(sys_root, name)
            if device is not None:
                devices.append(device)
    return devices


class StorageCollector(Collector):
    """Disks from sysfs; filesystems from the mount table, each statvfs bounded by a timeout."""

    name = "storage"

    def __init__(self, statvfs: Callable[[str], Any] = os.statvfs) -> None:
        self._pool = WorkerPool("suanli-statvfs")
        self._statter = MountStatter(self._pool, DEFAULT_STATVFS_TIMEOUT_S, statvfs)

    def _filesystems(self, context: CollectContext) -> tuple[list[dict[str, Any]], list[str]]:
        settings = context.settings.get("storage") or {}
        self._statter.timeout_s = float(settings.get("statvfs_timeout_s", DEFAULT_STATVFS_TIMEOUT_S))
        mounts = storage_mounts(parse_mounts(read_text(context.proc_root / "self" / "mounts") or ""))
        stats, skipped = self._statter.stat_all(m.mountpoint for m in mounts)
        filesystems = [filesystem_fields(m, stats[m.mountpoint]) for m in mounts if m.mountpoint in stats]
        return [fs for fs in filesystems if fs["size_bytes"] > 0], skipped

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        filesystems, skipped = self._filesystems(context)
        devices = read_block_devices(context.sys_root)
        fragment: dict[str, Any] = {"block_devices": devices, "filesystems": filesystems}
        if skipped:
            fragment[MESSAGE_KEY] = "; ".join(skipped)
        return fragment

    def usage(self, context: CollectContext) -> dict[str, Any]:
        filesystems, skipped = self._filesystems(context)
        usage = [{k: fs[k] for k in ("mountpoint", "size_bytes", "used_bytes")} for fs in filesystems]
        fragment: dict[str, Any] = {"filesystems": usage}
        if skipped:
            fragment[MESSAGE_KEY] = "; ".join(skipped)
        return fragment

    def close(self) -> None:
        self._pool.close()
