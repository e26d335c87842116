"""The puller's local state (SQLite): per-source cursor and summary, and every valid certificate, indexed for totals.

Certificates are stored as rows with their figures in columns, so an incremental sync touches only
the changed rows and national totals are SQL sums rather than a re-read of every certificate. Child
rows refer to a certificate by an integer key, and hardware hashes are kept as 32-byte blobs: a
100 000-certificate state stays a few hundred bytes per certificate.

Hardware hashes are random keys, so keeping their index up to date costs a random B-tree insert per
hash (12 per certificate), and building it afresh 1.3–2.3 s at 100 000 certificates. Only duplicate
detection reads it, and a hash can be shared only between two sources: so the index exists only
while the state holds more than one source (`prepare_hash_index`, at the start of every sync). The
first sync of a second source builds it over what is stored before storing its own pages, whose
hashes then go through it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path
from typing import Any

from suanli.schema.national import PRECISIONS, CertificateClaims

COUNTS = ("cpu_physical_cores", "cpu_logical_cores", "memory_bytes", "storage_local_bytes", "ports_400g", "ports_200g", "ports_100g")
CACHE_KIB = 128 * 1024
_CHUNK = 400  # SQLite's bound-parameter limit is 999 on old builds

_HASH_INDEX = "CREATE INDEX IF NOT EXISTS hardware_hash ON certificate_hardware (hardware_hash)"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sources (
    url TEXT PRIMARY KEY, issuer TEXT, cursor TEXT NOT NULL DEFAULT '', summary TEXT, pulled_at REAL,
    signs_pages INTEGER NOT NULL DEFAULT 0
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
CREATE TEMP TABLE IF NOT EXISTS new_hardware (cid INTEGER PRIMARY KEY, digests BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS duplicate_candidates (hardware_hash BLOB PRIMARY KEY) WITHOUT ROWID;
"""
# Hashes of the certificates just inserted (cids from :first on) that another source also holds: found by
# index look-ups at write time, so national totals never scan every stored hash for duplicates.
_NEW_CANDIDATES = """
INSERT OR IGNORE INTO duplicate_candidates
SELECT DISTINCT h.hardware_hash FROM certificate_hardware h JOIN certificates c ON c.cid = h.cid
WHERE c.source != :source AND h.hardware_hash IN (SELECT hardware_hash FROM certificate_hardware WHERE cid >= :first)
"""
# Every hash held under two sources: a full scan, run once when a state from before the table is opened.
_ALL_CANDIDATES = """
INSERT OR IGNORE INTO duplicate_candidates
SELECT h.hardware_hash FROM certificate_hardware h JOIN certificates c ON c.cid = h.cid
GROUP BY h.hardware_hash HAVING count(DISTINCT c.source) > 1
"""
_CHILD_TABLES = ("certificate_accelerators", "certificate_storage", "certificate_hardware")
# The digests of just-stored certificates as (cid, 32-byte hash) rows; OR IGNORE: a source repeating a
# hash inside one certificate must not abort the page. CROSS JOIN keeps the certificates in the outer
# loop, so rows arrive in primary-key order (cid, then the contract's sorted hashes) and append at the
# end of the table; with a plain JOIN SQLite loops over positions outside and goes through the page's
# certificates once per position (100 000 certificates: 1.1-1.4 s -> 0.75-0.9 s of CPU, in SQL alone).
_SPLIT_HARDWARE = """
WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < :most)
INSERT OR IGNORE INTO certificate_hardware
SELECT n.cid, substr(n.digests, 32 * k.i + 1, 32) FROM temp.new_hardware n CROSS JOIN k WHERE 32 * k.i < length(n.digests)
"""


# A verified certificate's stored part, as a verification worker sends it back: a plain tuple, since a
# named tuple pickles at about twice the cost. In order: kid, province, datacenter, expires_s, the
# COUNTS, FLOP/s per precision in PRECISIONS order (together the certificate's columns after node_id),
# then accelerators ((model, count), ...), network storage ((key, bytes), ...) and the hardware digests
# (32 bytes each, concatenated; SQLite splits them into rows).
Record = tuple[Any, ...]
_COLUMNS_END = 4 + len(COUNTS) + len(PRECISIONS)

_counts_of = attrgetter(*COUNTS)
_flops_of = attrgetter(*PRECISIONS)


def record_of(kid: str, claims: CertificateClaims) -> Record:
    """The stored part of validated claims signed with `kid`."""
    capacity = claims.capacity
    return (
        kid, claims.province, claims.datacenter, claims.exp, *_counts_of(capacity), *_flops_of(capacity.flops),
        tuple(capacity.accelerators.items()), tuple(capacity.network_storage.items()),
        bytes.fromhex("".join(claims.hardware)),  # each is exactly 64 hex digits (the contract)
    )


def _rows_of(cid: int, source: str, certificate_id: str, node_id: str, record: Record,
             rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """The rows one certificate adds to each table."""
    rows["certificates"].append((cid, source, certificate_id, node_id, *record[:_COLUMNS_END]))
    rows["certificate_accelerators"] += [(cid, m, n) for m, n in record[-3]]
    rows["certificate_storage"] += [(cid, k, size) for k, size in record[-2]]
    rows["new_hardware"].append((cid, record[-1]))


class PullState:
    """One SQLite file holding everything a later incremental pull needs."""

    def __init__(self, path: Path | str) -> None:
        # Used by one thread at a time, but not always the one that opened it: a sync stores pages in a thread.
        self.connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        # Hardware hashes are random keys: each page of inserts touches pages all over their index, so a
        # cache that holds the index (~50 MB at 100 000 certificates) saves re-reading it per transaction.
        self.connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        had_candidates = self._has_table("duplicate_candidates")
        self.connection.executescript(_SCHEMA)
        columns = {row[1] for row in self.connection.execute("PRAGMA table_info(sources)")}
        if "signs_pages" not in columns:  # a state file from before signed feed pages
            self.connection.execute("ALTER TABLE sources ADD COLUMN signs_pages INTEGER NOT NULL DEFAULT 0")
        if not had_candidates:
            self.connection.execute(_ALL_CANDIDATES)

    def _has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self.connection.execute(query, (name,)).fetchone() is not None

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.begin()
        try:
            yield self.connection
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def begin(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.connection.execute("COMMIT")

    def rollback(self) -> None:
        self.connection.execute("ROLLBACK")

    def source(self, url: str) -> tuple[str | None, str, bool]:
        """The issuer pinned for a source, its feed cursor ('' before the first pull) and whether it signs pages."""
        row = self.connection.execute("SELECT issuer, cursor, signs_pages FROM sources WHERE url = ?", (url,)).fetchone()
        return (row[0], row[1], bool(row[2])) if row else (None, "", False)

    def save_source(self, url: str, issuer: str | None, cursor: str, summary: dict[str, Any] | None, now_s: float,
                    signs_pages: bool = False) -> None:
        """Record a source's cursor (and summary); `signs_pages` once set stays set."""
        self.connection.execute(
            "INSERT INTO sources (url, issuer, cursor, summary, pulled_at, signs_pages) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (url) DO UPDATE SET issuer = excluded.issuer, cursor = excluded.cursor, "
            "summary = COALESCE(excluded.summary, sources.summary), pulled_at = excluded.pulled_at, "
            "signs_pages = max(sources.signs_pages, excluded.signs_pages)",
            (url, issuer, cursor, json.dumps(summary) if summary is not None else None, now_s, int(signs_pages)),
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

    def revoke_many(self, source: str, certificate_ids: list[str]) -> int:
        """Forget the source's certificates with these ids (unknown ids are ignored); returns how many."""
        removed = 0
        for start in range(0, len(certificate_ids), _CHUNK):
            chunk = certificate_ids[start : start + _CHUNK]
            removed += self._delete(source, f"certificate_id IN ({', '.join('?' * len(chunk))})", tuple(chunk))
        return removed

    def put_many(self, source: str, batch: list[tuple[str, str, Record]]) -> None:
        """Store (certificate_id, node_id, record) of one source in bulk; per node the last one wins and replaces any earlier."""
        latest = list({c[1]: c for c in batch}.values())
        if not latest:
            return
        for start in range(0, len(latest), _CHUNK):
            chunk = latest[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            # Two look-ups rather than one with OR: SQLite would scan every row of the source for the OR.
            self._delete(source, f"node_id IN ({marks})", tuple(c[1] for c in chunk))
            self._delete(source, f"certificate_id IN ({marks})", tuple(c[0] for c in chunk))
        next_cid = self.connection.execute("SELECT coalesce(max(cid), 0) + 1 FROM certificates").fetchone()[0]
        rows: dict[str, list[tuple[Any, ...]]] = {"certificates": [], "new_hardware": [], **{t: [] for t in _CHILD_TABLES}}
        for offset, (certificate_id, node_id, record) in enumerate(latest):
            _rows_of(next_cid + offset, source, certificate_id, node_id, record, rows)
        width = 8 + len(COUNTS) + len(PRECISIONS)
        self.connection.executemany(f"INSERT INTO certificates VALUES ({', '.join('?' * width)})", rows["certificates"])
        # OR IGNORE: a source repeating an entry inside one certificate must not abort the page.
        self.connection.executemany("INSERT OR IGNORE INTO certificate_accelerators VALUES (?, ?, ?)", rows["certificate_accelerators"])
        self.connection.executemany("INSERT OR IGNORE INTO certificate_storage VALUES (?, ?, ?)", rows["certificate_storage"])
        self._insert_hardware(rows["new_hardware"], max(len(c[2][-1]) for c in latest) // 32)
        # One source alone cannot duplicate across sources; nor can the first source of an empty state.
        if self._has_other_source(source):
            self.connection.execute(_NEW_CANDIDATES, {"source": source, "first": next_cid})

    def _insert_hardware(self, blobs: list[tuple[int, bytes]], most: int) -> None:
        """One row per 32-byte digest of each (cid, digests) pair, split by SQLite rather than bound row by row."""
        if most == 0:
            return
        self.connection.executemany("INSERT INTO temp.new_hardware VALUES (?, ?)", blobs)
        self.connection.execute(_SPLIT_HARDWARE, {"most": most})
        self.connection.execute("DELETE FROM temp.new_hardware")

    def prepare_hash_index(self, source: str) -> None:
        """Before storing `source`'s pages: build the hardware hash index if another source is held
        (its duplicates are then looked up as pages are stored, see `put_many`), else drop it, since
        nothing can be shared with one source alone."""
        if self._has_other_source(source):
            self.connection.execute("PRAGMA threads = 2")  # the index sorter may use a helper thread
            self.connection.execute(_HASH_INDEX)
        else:
            self.connection.execute("DROP INDEX IF EXISTS hardware_hash")

    def _has_other_source(self, source: str) -> bool:
        """Whether any other source was ever pulled into this state (every stored certificate's source was)."""
        return self.connection.execute("SELECT 1 FROM sources WHERE url != ? LIMIT 1", (source,)).fetchone() is not None

    def duplicate_candidates(self) -> list[bytes]:
        """Hashes seen under two sources at some write; some may since have gone (the tally re-checks them)."""
        return [row[0] for row in self.connection.execute("SELECT hardware_hash FROM duplicate_candidates")]

    def forget_candidates(self, hashes: Iterable[bytes]) -> None:
        """Drop candidates no longer held under two sources."""
        self.connection.executemany("DELETE FROM duplicate_candidates WHERE hardware_hash = ?", [(h,) for h in hashes])

    def drop_unpublished_keys(self, source: str, key_ids: Iterable[str]) -> int:
        """Forget certificates whose signing key the source no longer publishes; returns how many."""
        kept = tuple(key_ids)
        return self._delete(source, f"kid NOT IN ({', '.join('?' * len(kept)) or 'NULL'})", kept)

    def count(self, source: str) -> int:
        """Certificates held for one source."""
        return self.connection.execute("SELECT count(*) FROM certificates WHERE source = ?", (source,)).fetchone()[0]
