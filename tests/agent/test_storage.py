"""Tests of the storage collector: block devices and filesystems on fixture trees."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import SimpleNamespace

from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext
from suanli.agent.collectors.storage import (
    StorageCollector,
    media_of,
    parse_vpd_serial,
    read_block_devices,
)

TIB = 2**40


def test_vpd_page_80_serial() -> None:
    assert parse_vpd_serial(bytes([0, 0x80, 0, 10]) + b"ZL2ABCDE  ") == "ZL2ABCDE"
    assert parse_vpd_serial(bytes([0, 0x83, 0, 2]) + b"xx") is None
    assert parse_vpd_serial(b"") is None


def test_media() -> None:
    assert media_of("nvme0n1", 0) == "nvme"
    assert media_of("sda", 1) == "hdd"
    assert media_of("sda", 0) == "ssd"
    assert media_of("vda", 1) == "unknown"  # virtio always says rotational
    assert media_of("sdx", None) == "unknown"


def test_sata_disks_with_vpd_serials(host_context: Callable[..., CollectContext]) -> None:
    devices = {d["name"]: d for d in read_block_devices(host_context("two-socket").sys_root)}
    assert sorted(devices) == ["sda", "sdb"]  # sr0 (optical) and loop0 skipped
    assert devices["sda"] == {"name": "sda", "model": "SSDSC2KG960G8R", "serial": "PHYG1234567X960CGN",
                              "size_bytes": 937703088 * 512, "rotational": False, "media": "ssd", "removable": False}
    assert devices["sdb"]["media"] == "hdd" and devices["sdb"]["size_bytes"] == 31251759104 * 512


def test_nvme_namespaces_without_layered_or_hidden_devices(host_context: Callable[..., CollectContext]) -> None:
    devices = {d["name"]: d for d in read_block_devices(host_context("nvme-nfs").sys_root)}
    assert sorted(devices) == ["nvme0n1", "nvme1n1"]  # dm-0, md0 and the hidden nvme0c0n1 path skipped
    assert devices["nvme0n1"]["model"] == "SAMSUNG MZQL27T6HBLA-00A07"
    assert devices["nvme0n1"]["serial"] == "S6CKNE0R123456"
    assert devices["nvme0n1"]["media"] == "nvme"


def test_captured_vm_disk(host_context: Callable[..., CollectContext]) -> None:
    devices = read_block_devices(host_context("captured-vm").sys_root)
    assert [(d["name"], d["serial"], d["size_bytes"], d["media"]) for d in devices] == [
        ("vda", "overlayblk", 536870912 * 512, "unknown")]


def test_filesystems_count_each_export_once(host_context: Callable[..., CollectContext], statvfs_with) -> None:
    collector = StorageCollector(statvfs=statvfs_with({"/lustre": 2 * TIB // 4096}))
    fragment = collector.inventory(host_context("nvme-nfs"))
    by_mount = {fs["mountpoint"]: fs for fs in fragment["filesystems"]}
    assert sorted(by_mount) == ["/", "/lustre", "/mnt/beegfs", "/mnt/data", "/mnt/projects", "/models", "/scratch space"]
    assert by_mount["/mnt/data"]["network_source"] == "filer01.example.cn:/export/data"
    assert by_mount["/lustre"]["size_bytes"] == 2 * TIB and by_mount["/lustre"]["is_network"] is True
    assert by_mount["/"]["is_network"] is False and by_mount["/"]["size_bytes"] == 1000 * 4096
    assert MESSAGE_KEY not in fragment
    collector.close()


def test_usage_reports_size_and_used(host_context: Callable[..., CollectContext], statvfs_with) -> None:
    collector = StorageCollector(statvfs=statvfs_with())
    usage = collector.usage(host_context("two-socket"))
    assert usage["filesystems"] == [
        {"mountpoint": mp, "size_bytes": 4096 * 1000, "used_bytes": 4096 * 600} for mp in ("/", "/boot", "/data")]
    collector.close()


def test_a_hung_mount_is_skipped_with_a_message(host_context: Callable[..., CollectContext], statvfs_with) -> None:
    release = threading.Event()
    healthy = statvfs_with()

    def statvfs(mountpoint: str) -> SimpleNamespace:
        if mountpoint == "/models":
            release.wait()
        return healthy(mountpoint)

    collector = StorageCollector(statvfs=statvfs)
    context = host_context("nvme-nfs", storage={"statvfs_timeout_s": 0.2})
    fragment = collector.inventory(context)
    assert "/models" not in {fs["mountpoint"] for fs in fragment["filesystems"]}
    assert len(fragment["filesystems"]) == 6
    assert "/models: statvfs did not answer within 0.2 s" in fragment[MESSAGE_KEY]
    release.set()
    collector.close()
