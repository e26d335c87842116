"""The durable spool: every report lands in SQLite (WAL) with its seq before it is sent.

`seq` is allocated in the same transaction as the insert and never goes backwards: the spool keeps
the last seq, and a small reservation file in the state dir (`seq.json`, fsynced, written once per
block of seqs) lets a fresh spool that replaced a corrupt one continue above every seq ever handed
out. Rows leave the spool only when the control plane acknowledged them, when the bounds force the
oldest usage reports out (inventory is never dropped), or when the control plane rejected them as
malformed (set aside in `rejected`, so one bad report never wedges delivery).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from suanli.agent.logs import log_event
from suanli.agent.state import FILE_MODE, read_json, write_json

SPOOL_FILE = "spool.db"
SEQ_FILE = "seq.json"
SEQ_RESERVE_BLOCK = 1000
REJECTED_KEPT = 100
KINDS = ("inventory", "usage")
_CORRUPTION_CODES = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    body TEXT NOT NULL,
    size_bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_kind_seq ON reports (kind, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    measured_at TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
"""

T = TypeVar("T")


@dataclass(frozen=True)
class SpooledReport:
    """One stored report: the envelope is built around `body` (raw JSON) when it is sent."""

    seq: int
    kind: str
    measured_at: str
    body: str


@dataclass(frozen=True)
class SpoolStats:
    depth: int
    size_bytes: int
    last_seq: int
    dropped_usage: int
    rejected: int
    recovered_corrupt: int


class SpoolCorrupt(sqlite3.DatabaseError):
    """The integrity check of an existing spool failed."""


def is_corruption(exc: BaseException) -> bool:
    """True for 'database disk image is malformed' / 'file is not a database', not for locks or I/O."""
    if isinstance(exc, SpoolCorrupt):
        return True
    return isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) in _CORRUPTION_CODES


class Spool:
    """A bounded, durable FIFO of reports keyed by seq; owned by one agent process."""

    def __init__(self, state_dir: Path, max_bytes: int, max_reports: int) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / SPOOL_FILE
        self.max_bytes = max_bytes
        self.max_reports = max_reports
        self._conn: sqlite3.Connection | None = None
        self._count = 0
        self._bytes = 0
        self._recovered = 0
        self._meta: dict[str, int] = {}
        self._reserved_cache: int | None = None
        self.open()

    # -- opening, corruption ------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the spool; a corrupt file is moved aside and a fresh one started."""
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            self._move_aside(exc)
            self._connect()

    def _connect(self) -> None:
        created = not self.path.exists()
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            if created:
                self.path.chmod(FILE_MODE)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, so a seq once sent is never handed out again.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=5000")
            # The queue's hot pages are few: a 512 KiB page cache instead of SQLite's 2 MiB default.
            conn.execute("PRAGMA cache_size=-512")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise SpoolCorrupt(f"quick_check: {check}")
            conn.executescript(_SCHEMA)
            self._init_seq(conn)
            self._count, self._bytes = conn.execute("SELECT count(*), total(size_bytes) FROM reports").fetchone()
            self._bytes = int(self._bytes)
            self._meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _init_seq(self, conn: sqlite3.Connection) -> None:
        """A new spool starts above every seq reserved before, so seq stays monotonic after recovery."""
        if conn.execute("SELECT 1 FROM meta WHERE key='last_seq'").fetchone() is None:
            conn.execute("INSERT INTO meta VALUES ('last_seq', ?)", (self._reserved_through(),))

    def _move_aside(self, exc: BaseException) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{SPOOL_FILE}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                source.replace(Path(str(target) + suffix))
        self._recovered += 1
        log_event("spool.corrupt", 40, path=str(self.path), moved_to=str(target), error=str(exc))

    def _recover(self, exc: BaseException) -> None:
        self.close()
        self._move_aside(exc)
        self._connect()

    def _guard(self, operation: Callable[[], T], fallback: Callable[[], T]) -> T:
        """Run `operation`; on corruption move the spool aside, start fresh and run `fallback`."""
        try:
            return operation()
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise
            self._recover(exc)
            return fallback()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("spool is closed")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- seq reservation ------------------------------------------------------------------------

    def _reserved_through(self) -> int:
        try:
            data = read_json(self.state_dir / SEQ_FILE) or {}
        except (OSError, ValueError):
            data = {}
        return int(data.get("reserved_through", 0))

    def _reserve(self, seq: int) -> None:
        """Before a seq is used, make sure the reservation file covers it (fsynced, once per block)."""
        if self._reserved_cache is None:
            self._reserved_cache = self._reserved_through()
        if seq > self._reserved_cache:
            through = seq + SEQ_RESERVE_BLOCK
            write_json(self.state_dir / SEQ_FILE, {"reserved_through": through})
            self._reserved_cache = through

    # -- writing --------------------------------------------------------------------------------

    def append(self, kind: str, body_json: str, measured_at: str) -> int:
        """Store one report and return its seq; enforce the bounds by dropping the oldest usage."""
        if kind not in KINDS:
            raise ValueError(f"unknown report kind {kind!r}")
        return self._guard(
            lambda: self._append(kind, body_json, measured_at), lambda: self._append(kind, body_json, measured_at)
        )

    def _append(self, kind: str, body_json: str, measured_at: str) -> int:
        conn = self.conn
        size = len(body_json.encode())
        conn.execute("BEGIN IMMEDIATE")
        try:
            seq = conn.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0] + 1
            self._reserve(seq)
            conn.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?)", (seq, kind, measured_at, body_json, size))
            conn.execute("UPDATE meta SET value=? WHERE key='last_seq'", (seq,))
            dropped_rows, dropped_bytes = self._enforce_bounds(conn, self._count + 1, self._bytes + size)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._count += 1 - dropped_rows
        self._bytes += size - dropped_bytes
        self._meta["last_seq"] = seq
        self._meta["dropped_usage"] = self._meta.get("dropped_usage", 0) + dropped_rows
        if dropped_rows:
            log_event("spool.full", 30, dropped_usage=dropped_rows, depth=self._count, size_bytes=self._bytes)
        return seq

    def _enforce_bounds(self, conn: sqlite3.Connection, count: int, size: int) -> tuple[int, int]:
        """Delete the oldest usage rows until within bounds; return (rows, bytes) dropped."""
        dropped_rows = dropped_bytes = 0
        while count > self.max_reports or size > self.max_bytes:
            oldest = conn.execute(
                "SELECT seq, size_bytes FROM reports WHERE kind='usage' ORDER BY seq LIMIT 64"
            ).fetchall()
            if not oldest:
                break  # only inventory left: it is never dropped, the bound yields
            for seq, row_bytes in oldest:
                if count <= self.max_reports and size <= self.max_bytes:
                    break
                conn.execute("DELETE FROM reports WHERE seq=?", (seq,))
                count, size = count - 1, size - row_bytes
                dropped_rows, dropped_bytes = dropped_rows + 1, dropped_bytes + row_bytes
        if dropped_rows:
            self._bump(conn, "dropped_usage", dropped_rows)
        return dropped_rows, dropped_bytes

    @staticmethod
    def _bump(conn: sqlite3.Connection, key: str, by: int) -> None:
        conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value", (key, by)
        )

    # -- reading and acknowledging --------------------------------------------------------------

    def pending(self, limit: int, max_bytes: int | None = None) -> list[SpooledReport]:
        """The oldest reports, at most `limit` and (beyond the first) at most `max_bytes` of bodies."""
        rows = self._guard(
            lambda: self.conn.execute(
                "SELECT seq, kind, measured_at, body, size_bytes FROM reports ORDER BY seq LIMIT ?", (limit,)
            ).fetchall(),
            list,
        )
        batch: list[SpooledReport] = []
        total = 0
        for seq, kind, measured_at, body, size in rows:
            if batch and max_bytes is not None and total + size > max_bytes:
                break
            batch.append(SpooledReport(seq, kind, measured_at, body))
            total += size
        return batch

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete exactly the acknowledged seqs (accepted or duplicate); return how many were spooled."""
        return self._guard(lambda: self._delete(list(seqs)), lambda: 0)

    def _delete(self, seqs: list[int]) -> int:
        if not seqs:
            return 0
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed, removed_bytes = self._remove_rows(conn, seqs)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._count -= removed
        self._bytes -= removed_bytes
        return removed

    @staticmethod
    def _remove_rows(conn: sqlite3.Connection, seqs: list[int]) -> tuple[int, int]:
        removed = removed_bytes = 0
        for seq in seqs:
            row = conn.execute("DELETE FROM reports WHERE seq=? RETURNING size_bytes", (seq,)).fetchone()
            if row is not None:
                removed, removed_bytes = removed + 1, removed_bytes + row[0]
        return removed, removed_bytes

    def set_aside(self, seqs: Iterable[int], reason: str) -> int:
        """Move reports the control plane rejected as malformed out of the queue, counted and kept."""
        return self._guard(lambda: self._set_aside(list(seqs), reason), lambda: 0)

    def _set_aside(self, seqs: list[int], reason: str) -> int:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            placeholders = ",".join("?" * len(seqs))
            conn.execute(
                f"INSERT OR REPLACE INTO rejected SELECT seq, kind, measured_at, body, ?, ? FROM reports "
                f"WHERE seq IN ({placeholders})",
                (reason[:2000], time.time(), *seqs),
            )
            removed, removed_bytes = self._remove_rows(conn, seqs)
            self._bump(conn, "rejected", removed)
            self._meta["rejected"] = self._meta.get("rejected", 0) + removed
            conn.execute(
                "DELETE FROM rejected WHERE seq NOT IN (SELECT seq FROM rejected ORDER BY seq DESC LIMIT ?)",
                (REJECTED_KEPT,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._count -= removed
        self._bytes -= removed_bytes
        return removed

    # -- introspection --------------------------------------------------------------------------

    def set_bounds(self, max_bytes: int, max_reports: int) -> None:
        """New bounds from a reloaded config; applied from the next append on."""
        self.max_bytes, self.max_reports = max_bytes, max_reports

    def depth(self) -> int:
        return self._count

    def stats(self) -> SpoolStats:
        """Counters kept in memory beside the database (this process is the spool's only writer)."""
        return SpoolStats(
            depth=self._count,
            size_bytes=self._bytes,
            last_seq=self._meta.get("last_seq", 0),
            dropped_usage=self._meta.get("dropped_usage", 0),
            rejected=self._meta.get("rejected", 0),
            recovered_corrupt=self._recovered,
        )
