"""Tests of mount parsing, the storage-mount rules, network sources and statvfs with a timeout."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from suanli.agent.filesystems import (
    Mount,
    MountStatter,
    filesystem_fields,
    network_source,
    parse_mounts,
    storage_mounts,
)
from suanli.agent.workers import WorkerPool

MOUNTS = """proc /proc proc rw 0 0
/dev/sda2 / xfs rw 0 0
tmpfs /run tmpfs rw 0 0
/dev/sdb1 /data ext4 rw 0 0
/dev/sdb1 /var/lib/containers/data ext4 rw 0 0
overlay /var/lib/containers/overlay/x/merged overlay rw 0 0
/dev/loop0 /snap/core/1 squashfs ro 0 0
/dev/md0 /scratch\\040space ext4 rw 0 0
tmpfs /mnt/data tmpfs rw 0 0
Filer01:/export/data/ /mnt/data nfs4 rw,addr=10.0.0.5 0 0
filer01:/export/data /home/shared nfs4 rw 0 0
/dev/sdc1 /mnt/hidden ext4 rw 0 0
tmpfs /mnt/hidden tmpfs rw 0 0
"""


def test_parse_mounts_unescapes_octal() -> None:
    mounts = parse_mounts(MOUNTS)
    assert Mount("/dev/md0", "/scratch space", "ext4") in mounts
    assert len(mounts) == 13


def test_storage_mounts_rules() -> None:
    chosen = {m.mountpoint: m for m in storage_mounts(parse_mounts(MOUNTS))}
    # pseudo, tmpfs, overlay, squashfs out; bind mount and second mount of one export once;
    # a storage mount hidden under a later tmpfs is gone; an nfs mount over a tmpfs counts.
    assert sorted(chosen) == ["/", "/data", "/mnt/data", "/scratch space"]
    assert chosen["/mnt/data"].fstype == "nfs4"


@pytest.mark.parametrize(("source", "fstype", "mountpoint", "expected"), [
    ("Filer01.Example.CN:/export/data/", "nfs4", "/mnt/a", "filer01.example.cn:/export/data"),
    ("10.0.0.6:/export//models/", "nfs", "/m", "10.0.0.6:/export/models"),
    ("10.0.0.6:/", "nfs", "/m", "10.0.0.6:/"),
    ("[FE80::1]:/export", "nfs4", "/m", "[fe80::1]:/export"),
    ("//NAS02/Projects/", "cifs", "/p", "//nas02/projects"),
    ("10.1.0.1@o2ib:/lustre01", "lustre", "/lustre", "10.1.0.1@o2ib:/lustre01"),
    ("beegfs_nodev", "beegfs", "/mnt/beegfs/", "beegfs:/mnt/beegfs"),
    ("gpfs0", "gpfs", "/gpfs", "gpfs:gpfs0"),
])
def test_network_source_normalization(source: str, fstype: str, mountpoint: str, expected: str) -> None:
    assert network_source(Mount(source, mountpoint, fstype)) == expected


def test_filesystem_fields_like_df() -> None:
    stat = SimpleNamespace(f_frsize=4096, f_bsize=8192, f_blocks=1000, f_bfree=300, f_bavail=250)
    fields = filesystem_fields(Mount("srv:/x", "/x", "nfs"), stat)
    assert fields["size_bytes"] == 4096 * 1000
    assert fields["used_bytes"] == 4096 * 700
    assert fields["available_bytes"] == 4096 * 250
    assert fields["is_network"] is True and fields["network_source"] == "srv:/x"
    local = filesystem_fields(Mount("/dev/sda1", "/", "ext4"), stat)
    assert local["is_network"] is False and local["network_source"] is None


def test_hung_mount_is_skipped_then_not_restatted_until_it_returns() -> None:
    release = threading.Event()
    calls: list[str] = []

    def statvfs(mountpoint: str) -> SimpleNamespace:
        calls.append(mountpoint)
        if mountpoint == "/hung":
            release.wait()
        return SimpleNamespace(f_frsize=1, f_bsize=1, f_blocks=10, f_bfree=5, f_bavail=5)

    pool = WorkerPool("test-statvfs")
    statter = MountStatter(pool, 0.2, statvfs)
    results, skipped = statter.stat_all(["/", "/hung"])
    assert list(results) == ["/"]
    assert skipped == ["/hung: statvfs did not answer within 0.2 s"]
    results, skipped = statter.stat_all(["/", "/hung"])
    assert list(results) == ["/"] and "still hung" in skipped[0]
    assert calls.count("/hung") == 1  # the stuck call holds its thread; no second one is started
    release.set()
    statter._stuck["/hung"].result(timeout=5)
    results, skipped = statter.stat_all(["/", "/hung"])
    assert sorted(results) == ["/", "/hung"] and skipped == []
    pool.close()


def test_statvfs_errors_are_reported_not_raised() -> None:
    def statvfs(mountpoint: str) -> SimpleNamespace:
        raise PermissionError(13, "Permission denied")

    statter = MountStatter(WorkerPool("test-statvfs"), 1.0, statvfs)
    assert statter.stat_all(["/secret"]) == ({}, ["/secret: Permission denied"])
