"""The puller's local state (SQLite): per-source cursor and summary, and every valid certificate, indexed for totals.

Certificates are stored as rows with their figures in columns, so an incremental sync touches only
the changed rows and national totals are SQL sums rather than a re-read of every certificate. Child
rows refer to a certificate by an integer key, and hardware hashes are kept as 32-byte blobs: a
100 000-certificate state stays a few hundred bytes per certificate.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from suanli.schema.national import PRECISIONS

COUNTS = ("cpu_physical_cores", "cpu_logical_cores", "memory_bytes", "storage_local_bytes", "ports_400g", "ports_200g", "ports_100g")
_CHUNK = 400  # SQLite's bound-parameter limit is 999 on old builds

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sources (
    url TEXT PRIMARY KEY, issuer TEXT, cursor TEXT NOT NULL DEFAULT '', summary TEXT, pulled_at REAL
);
CREATE TABLE IF NOT EXISTS certificates (
    cid INTEGER PRIMARY KEY, source TEXT NOT NULL, certificate_id TEXT NOT NULL, node_id TEXT NOT NULL,
    kid TEXT NOT NULL, province TEXT NOT NULL, datacenter TEXT NOT NULL, expires_s INTEGER NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL" for c in COUNTS)},
    {", ".join(f"flops_{p} REAL NOT NULL" for p in PRECISIONS)}
);
CREATE UNIQUE INDEX IF NOT EXISTS certificates_id ON certificates (source, certificate_id);
CREATE UNIQUE INDEX IF NOT EXISTS certificates_node ON certificates (source, node_id);
CREATE TABLE IF NOT EXISTS certificate_accelerators (
    cid INTEGER NOT NULL, model TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (cid, model)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS certificate_storage (
    cid INTEGER NOT NULL, storage_key TEXT NOT NULL, size_bytes INTEGER NOT NULL, PRIMARY KEY (cid, storage_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS certificate_hardware (
    cid INTEGER NOT NULL, hardware_hash BLOB NOT NULL, PRIMARY KEY (cid, hardware_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS hardware_hash ON certificate_hardware (hardware_hash);
"""
_CHILD_TABLES = ("certificate_accelerators", "certificate_storage", "certificate_hardware")


@dataclass(frozen=True)
class StoredCertificate:
    """A verified certificate as the puller keeps it."""

    source: str
    certificate_id: str
    node_id: str
    kid: str
    claims: dict[str, Any]


def _rows_of(cid: int, certificate: StoredCertificate, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """The rows one certificate adds to each table."""
    claims = certificate.claims
    capacity = claims["capacity"]
    flops = capacity.get("flops", {})
    rows["certificates"].append(
        (cid, certificate.source, certificate.certificate_id, certificate.node_id, certificate.kid,
         claims["province"], claims["datacenter"], claims["exp"],
         *(capacity.get(c, 0) for c in COUNTS), *(flops.get(p, 0.0) for p in PRECISIONS))
    )
    rows["certificate_accelerators"] += [(cid, m, n) for m, n in capacity.get("accelerators", {}).items()]
    rows["certificate_storage"] += [(cid, k, size) for k, size in capacity.get("network_storage", {}).items()]
    rows["certificate_hardware"] += [(cid, bytes.fromhex(h)) for h in claims["hardware"]]


class PullState:
    """One SQLite file holding everything a later incremental pull needs."""

    def __init__(self, path: Path | str) -> None:
        self.connection = sqlite3.connect(str(path), isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(_SCHEMA)

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def source(self, url: str) -> tuple[str | None, str]:
        """The issuer pinned for a source and its feed cursor ('' before the first pull)."""
        row = self.connection.execute("SELECT issuer, cursor FROM sources WHERE url = ?", (url,)).fetchone()
        return (row[0], row[1]) if row else (None, "")

    def save_source(self, url: str, issuer: str | None, cursor: str, summary: dict[str, Any] | None, now_s: float) -> None:
        self.connection.execute(
            "INSERT INTO sources (url, issuer, cursor, summary, pulled_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (url) DO UPDATE SET issuer = excluded.issuer, cursor = excluded.cursor, "
            "summary = COALESCE(excluded.summary, sources.summary), pulled_at = excluded.pulled_at",
            (url, issuer, cursor, json.dumps(summary) if summary is not None else None, now_s),
        )

    def summaries(self) -> dict[str, dict[str, Any]]:
        rows = self.connection.execute("SELECT url, summary FROM sources WHERE summary IS NOT NULL")
        return {url: json.loads(summary) for url, summary in rows}

    def _delete(self, source: str, where: str, args: tuple[Any, ...]) -> int:
        """Delete the source's certificates matching `where` with their rows; returns how many."""
        query = f"SELECT cid FROM certificates WHERE source = ? AND {where}"
        cids = [(row[0],) for row in self.connection.execute(query, (source, *args))]
        for table in (*_CHILD_TABLES, "certificates"):
            self.connection.executemany(f"DELETE FROM {table} WHERE cid = ?", cids)
        return len(cids)

    def revoke(self, source: str, certificate_id: str) -> int:
        return self._delete(source, "certificate_id = ?", (certificate_id,))

    def put(self, certificate: StoredCertificate) -> None:
        """Store a certificate, replacing any earlier certificate of the same node from the same source."""
        self.put_many(certificate.source, [certificate])

    def put_many(self, source: str, batch: list[StoredCertificate]) -> None:
        """Store certificates of one source in bulk; per node the last one wins and replaces any earlier."""
        latest = list({c.node_id: c for c in batch}.values())
        for start in range(0, len(latest), _CHUNK):
            chunk = latest[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            self._delete(source, f"(node_id IN ({marks}) OR certificate_id IN ({marks}))",
                         (*(c.node_id for c in chunk), *(c.certificate_id for c in chunk)))
        next_cid = self.connection.execute("SELECT coalesce(max(cid), 0) + 1 FROM certificates").fetchone()[0]
        rows: dict[str, list[tuple[Any, ...]]] = {"certificates": [], **{t: [] for t in _CHILD_TABLES}}
        for offset, certificate in enumerate(latest):
            _rows_of(next_cid + offset, certificate, rows)
        width = 8 + len(COUNTS) + len(PRECISIONS)
        self.connection.executemany(f"INSERT INTO certificates VALUES ({', '.join('?' * width)})", rows["certificates"])
        # OR IGNORE: a source repeating an entry inside one certificate must not abort the page.
        self.connection.executemany("INSERT OR IGNORE INTO certificate_accelerators VALUES (?, ?, ?)", rows["certificate_accelerators"])
        self.connection.executemany("INSERT OR IGNORE INTO certificate_storage VALUES (?, ?, ?)", rows["certificate_storage"])
        self.connection.executemany("INSERT OR IGNORE INTO certificate_hardware VALUES (?, ?)", rows["certificate_hardware"])

    def drop_unpublished_keys(self, source: str, key_ids: Iterable[str]) -> int:
        """Forget certificates whose signing key the source no longer publishes; returns how many."""
        kept = tuple(key_ids)
        return self._delete(source, f"kid NOT IN ({', '.join('?' * len(kept)) or 'NULL'})", kept)

    def count(self, source: str) -> int:
        """Certificates held for one source."""
        return self.connection.execute("SELECT count(*) FROM certificates WHERE source = ?", (source,)).fetchone()[0]
