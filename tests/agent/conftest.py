"""Fixture host trees (tests/fixtures/hosts/<name>/{proc,sys,etc}) and a statvfs stand-in for the collector tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from suanli.agent.collectors.base import CollectContext

HOSTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"
HOST_TREES = ("captured-vm", "two-socket", "nvme-nfs", "infiniband")


def tree_context(root: Path, **settings: object) -> CollectContext:
    """A collect context reading the /proc, /sys and /etc of a fixture tree."""
    return CollectContext(root / "proc", root / "sys", root / "etc", dict(settings))


def fake_statvfs(sizes_blocks: dict[str, int] | None = None, block_bytes: int = 4096) -> Callable[[str], SimpleNamespace]:
    """A statvfs stand-in: each mount point has `sizes_blocks[mp]` blocks (default 1000), 40% free."""
    def statvfs(mountpoint: str) -> SimpleNamespace:
        blocks = (sizes_blocks or {}).get(mountpoint, 1000)
        return SimpleNamespace(f_frsize=block_bytes, f_bsize=block_bytes, f_blocks=blocks,
                               f_bfree=blocks * 4 // 10, f_bavail=blocks * 3 // 10)
    return statvfs


@pytest.fixture
def host_context() -> Callable[..., CollectContext]:
    """`host_context("two-socket", location={...})`: a context on a read-only fixture tree."""
    def make(name: str, **settings: object) -> CollectContext:
        return tree_context(HOSTS_DIR / name, **settings)
    return make


@pytest.fixture
def statvfs_with() -> Callable[..., Callable[[str], SimpleNamespace]]:
    """`statvfs_with({"/": blocks})`: see fake_statvfs."""
    return fake_statvfs


@pytest.fixture
def context_at() -> Callable[..., CollectContext]:
    """`context_at(root, **settings)`: a context on any tree laid out like the fixtures."""
    return tree_context


@pytest.fixture
def writable_host(tmp_path: Path) -> Callable[[str], Path]:
    """A copy of a fixture tree under tmp_path, for tests that change files between calls."""
    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(HOSTS_DIR / name, target)
        return target
    return make
