"""Which database failures become 507 `storage_full` or 503 `unavailable` instead of a 500."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from suanli.controlplane.errors import ERROR_CODES
from suanli.controlplane.storage_faults import storage_fault_code


def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code
    return error


class FakePgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("INSERT ...", {}, orig)


@pytest.mark.parametrize(("error", "code"), [
    (wrapped(sqlite_error("database or disk is full", 13)), "storage_full"),
    (wrapped(sqlite_error("disk I/O error", 778)), "storage_full"),  # SQLITE_IOERR_WRITE (EFBIG, ENOSPC)
    (wrapped(sqlite_error("database is locked", 5)), None),
    (wrapped(FakePgError("53100")), "storage_full"),
    (wrapped(FakePgError("57P01")), "unavailable"),  # admin shutdown: PostgreSQL restarting
    (wrapped(FakePgError("08006")), "unavailable"),
    (wrapped(FakePgError("40P01")), "unavailable"),  # deadlock detected: the retry succeeds
    (wrapped(FakePgError("40001")), "unavailable"),  # serialization failure: likewise
    (sa_exc.TimeoutError("QueuePool limit of size 5 overflow 0 reached"), "unavailable"),
    (wrapped(FakePgError("23505")), None),  # a unique violation is a bug, not the storage's fault
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "unavailable"),
    (OSError(errno.ENOSPC, "No space left on device"), "storage_full"),
    (ValueError("a bug"), None),
])
def test_storage_faults_are_told_apart_from_bugs(error: BaseException, code: str | None) -> None:
    assert storage_fault_code(error) == code


def test_both_codes_are_registered_5xx_answers() -> None:
    assert ERROR_CODES["storage_full"][0] == 507 and ERROR_CODES["unavailable"][0] == 503
