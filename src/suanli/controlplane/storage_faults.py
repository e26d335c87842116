"""Database failures a client can do something about: storage full (507) and database unreachable (503).

Both answers carry Retry-After; agents keep the batch in their spool and send it again, so a full
disk or a restarting PostgreSQL costs time, never reports.
"""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy import exc as sa_exc

RETRY_AFTER_S = 5
_SQLITE_FULL = 13
_SQLITE_IOERR = 10  # the primary code of every extended I/O error (a write refused by the file system)
_PG_DISK_FULL = "53100"
# PostgreSQL SQLSTATEs of a server going away or not taking connections yet (08xxx, shutdown, starting),
# and of a transaction the server gave up on (serialization failure, deadlock): a retry succeeds.
_PG_UNAVAILABLE_PREFIXES = ("08", "57P01", "57P02", "57P03", "40001", "40P01")
_DISK_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception with what it wraps: SQLAlchemy's `orig`, and explicit causes."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__
    return seen


def _code_of(error: BaseException) -> str | None:
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None and (code == _SQLITE_FULL or code & 0xFF in (_SQLITE_FULL, _SQLITE_IOERR)):
            return "storage_full"
        return None
    if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
        return "storage_full"
    sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if sqlstate == _PG_DISK_FULL:
        return "storage_full"
    if isinstance(sqlstate, str) and sqlstate.startswith(_PG_UNAVAILABLE_PREFIXES):
        return "unavailable"
    if isinstance(error, (ConnectionError, TimeoutError)):
        return "unavailable"
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection came free in time: overloaded
        return "unavailable"
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return "unavailable"
    if isinstance(error, (sa_exc.InterfaceError, sa_exc.DisconnectionError)):
        return "unavailable"
    if type(error).__module__.startswith("asyncpg") and "Connection" in type(error).__name__:
        return "unavailable"  # ConnectionDoesNotExistError and kin: the server closed on us
    return None


def storage_fault_code(exc: BaseException) -> str | None:
    """`storage_full`, `unavailable`, or None for an error that is not the storage's fault."""
    for error in _chain(exc):
        code = _code_of(error)
        if code is not None:
            return code
    return None
