"""The agent's state directory: private files written atomically, and the single-instance lock."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

DIR_MODE = 0o700
FILE_MODE = 0o600
LOCK_FILE = "agent.lock"


class StateError(Exception):
    """The state directory cannot be used (permissions, another agent holds it, unreadable file)."""


def ensure_state_dir(state_dir: Path) -> Path:
    """Create the state dir if missing and make it private (0700): it holds the node credential."""
    state_dir = Path(state_dir)
    state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if (state_dir.stat().st_mode & 0o777) != DIR_MODE:
        os.chmod(state_dir, DIR_MODE)
    return state_dir


def write_private(path: Path, data: bytes, durable: bool = True) -> None:
    """Replace `path` with `data` atomically (temp file + rename), mode 0600 from the first byte.

    `durable` fsyncs the file and its directory, for files whose loss would cost data or identity
    (enrollment, seq reservation); status snapshots skip it.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, value: Any, durable: bool = True) -> None:
    """Write a JSON document privately and atomically."""
    write_private(path, json.dumps(value, indent=2, sort_keys=True).encode() + b"\n", durable)


def read_json(path: Path) -> Any | None:
    """The JSON document at `path`, or None when it does not exist."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None


class InstanceLock:
    """An exclusive flock on the state dir, so two agents never share one spool and seq space."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise StateError(f"another suanli-agent is running with state dir {self.path.parent}") from exc
            raise
        self._fd = fd

    def held_elsewhere(self) -> bool:
        """True when another process (a running agent) holds the lock; used by `status`."""
        if not self.path.exists():
            return False
        try:
            self.acquire()
        except (StateError, PermissionError):
            return True
        self.release()
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
