"""Mounted filesystems: which mounts count as storage, their network source, and statvfs with a timeout.

What counts (decided here, once):
- local filesystems on real storage: ext2/3/4, xfs, btrfs, zfs, f2fs, bcachefs and a few more;
- network filesystems (nfs, cifs, ceph, glusterfs, lustre, beegfs, gpfs, juicefs...), marked
  `is_network` with a normalized `network_source` so one export mounted on many nodes counts once.
What does not: pseudo filesystems (proc, sysfs, cgroup, devtmpfs...), tmpfs and ramfs (that is
RAM, counted as memory), overlay (a container's view of a filesystem counted beneath it), squashfs
and iso9660 (read-only images), autofs placeholders. Bind mounts and btrfs subvolumes of one device
are reported once, at their shortest mount point; a mount point mounted over keeps only the top mount.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from suanli.agent.workers import WorkerPool

LOCAL_FSTYPES = frozenset({
    "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs",
    "nilfs2", "vfat", "exfat", "ntfs", "ntfs3", "hfsplus",
})
NETWORK_FSTYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "lustre", "beegfs", "gpfs",
    "wekafs", "panfs", "fuse.glusterfs", "fuse.ceph-fuse", "fuse.juicefs", "fuse.sshfs",
})
# Sources that name no server: the mount point is the only shared name such a filesystem has.
_SOURCELESS = frozenset({"", "none", "beegfs_nodev"})
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One line of /proc/self/mounts, unescaped."""

    source: str
    mountpoint: str
    fstype: str


def _unescape(field: str) -> str:
    """The kernel writes space, tab, newline and backslash in mount fields as \\040-style octal."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    """All mounts from /proc/self/mounts text (fstab(5) format), in mount order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            mounts.append(Mount(_unescape(fields[0]), _unescape(fields[1]), fields[2]))
    return mounts


def is_network(fstype: str) -> bool:
    return fstype in NETWORK_FSTYPES


def _normalize_path(path: str) -> str:
    path = re.sub(r"/{2,}", "/", path)
    return path.rstrip("/") or "/"


def network_source(mount: Mount) -> str:
    """A stable name for a network filesystem's origin, equal on every node that mounts it.

    `Server:/export/data/` → `server:/export/data` (host lower-cased, slashes tidied);
    `//Server/Share/` → `//server/share` (SMB names are case-insensitive); sourceless mounts
    (BeeGFS) → `beegfs:/mnt/beegfs`; other names (GPFS `gpfs0`) → `gpfs:gpfs0`.
    """
    source = mount.source.strip()
    if source.startswith("//"):
        return "//" + _normalize_path(source[2:].lower()).lstrip("/")
    host, sep, path = source.rpartition(":/")
    if sep:
        return f"{host.lower()}:{_normalize_path('/' + path)}"
    if source.lower() in _SOURCELESS:
        return f"{mount.fstype}:{_normalize_path(mount.mountpoint)}"
    return f"{mount.fstype}:{source.lower()}"


def storage_mounts(mounts: Iterable[Mount]) -> list[Mount]:
    """The mounts that count as storage, each filesystem once (see the module docstring)."""
    top_by_mountpoint: dict[str, Mount] = {}
    for mount in mounts:
        if mount.fstype in LOCAL_FSTYPES or mount.fstype in NETWORK_FSTYPES:
            top_by_mountpoint.pop(mount.mountpoint, None)
            top_by_mountpoint[mount.mountpoint] = mount  # a later mount hides an earlier one
        else:
            top_by_mountpoint.pop(mount.mountpoint, None)
    chosen: dict[tuple[str, str], Mount] = {}
    shallow_first = sorted(top_by_mountpoint.values(), key=lambda m: (m.mountpoint.count("/"), len(m.mountpoint)))
    for mount in shallow_first:
        key = ("net", network_source(mount)) if is_network(mount.fstype) else (mount.fstype, mount.source)
        chosen.setdefault(key, mount)
    return sorted(chosen.values(), key=lambda m: m.mountpoint)


def filesystem_fields(mount: Mount, stat: Any) -> dict[str, Any]:
    """Inventory fields of one filesystem from its statvfs result (sizes as `df` shows them)."""
    block_bytes = stat.f_frsize or stat.f_bsize
    network = is_network(mount.fstype)
    return {
        "mountpoint": mount.mountpoint,
        "device": mount.source or mount.fstype,
        "fstype": mount.fstype,
        "size_bytes": stat.f_blocks * block_bytes,
        "used_bytes": max(stat.f_blocks - stat.f_bfree, 0) * block_bytes,
        "available_bytes": stat.f_bavail * block_bytes,
        "is_network": network,
        "network_source": network_source(mount) if network else None,
    }


class MountStatter:
    """statvfs on each mount point with a timeout, so a dead NFS server cannot stall a collection.

    A call that times out keeps its worker thread (statvfs cannot be interrupted); that mount is
    skipped, without a new call, until the stuck call returns, so each hung mount holds one thread.
    """

    def __init__(
        self, pool: WorkerPool, timeout_s: float, statvfs: Callable[[str], Any] = os.statvfs
    ) -> None:
        self._pool = pool
        self.timeout_s = timeout_s
        self._statvfs = statvfs
        self._stuck: dict[str, Future[Any]] = {}

    def stat_all(self, mountpoints: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
        """statvfs results by mount point, and a message for each mount that was skipped."""
        skipped: list[str] = []
        futures: dict[str, Future[Any]] = {}
        for mountpoint in mountpoints:
            stuck = self._stuck.get(mountpoint)
            if stuck is not None and not stuck.done():
                skipped.append(f"{mountpoint}: statvfs still hung from an earlier collection")
                continue
            self._stuck.pop(mountpoint, None)
            futures[mountpoint] = self._pool.submit(self._statvfs, mountpoint)
        deadline = time.monotonic() + self.timeout_s
        results: dict[str, Any] = {}
        for mountpoint, future in futures.items():
            try:
                results[mountpoint] = future.result(timeout=max(deadline - time.monotonic(), 0.0))
            except FutureTimeout:
                self._stuck[mountpoint] = future
                skipped.append(f"{mountpoint}: statvfs did not answer within {self.timeout_s:g} s")
            except OSError as exc:
                skipped.append(f"{mountpoint}: {exc.strerror or exc}")
        return results, skipped
