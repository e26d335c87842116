"""The spool: seq monotonic across reopen and corruption, bounds and drop policy, ack deletes only acked."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from suanli.agent.spool import SEQ_FILE, SEQ_RESERVE_BLOCK, SPOOL_FILE, Spool

BODY = json.dumps({"cpu_percent": 1.0})
WHEN = "2026-11-21T08:00:00+00:00"


def make(tmp_path: Path, max_bytes: int = 10**9, max_reports: int = 10**6) -> Spool:
    return Spool(tmp_path, max_bytes=max_bytes, max_reports=max_reports)


def test_seq_starts_at_one_and_is_monotonic_across_reopen(tmp_path: Path) -> None:
    spool = make(tmp_path)
    assert [spool.append("usage", BODY, WHEN) for _ in range(3)] == [1, 2, 3]
    spool.ack([1, 2, 3])
    spool.close()
    reopened = make(tmp_path)
    assert reopened.depth() == 0
    assert reopened.append("usage", BODY, WHEN) == 4


def test_reports_survive_reopen_in_order_with_their_bodies(tmp_path: Path) -> None:
    spool = make(tmp_path)
    spool.append("inventory", '{"host":1}', WHEN)
    spool.append("usage", BODY, "2026-11-21T08:00:30+00:00")
    spool.close()
    pending = make(tmp_path).pending(10)
    assert [(r.seq, r.kind, r.body) for r in pending] == [(1, "inventory", '{"host":1}'), (2, "usage", BODY)]
    assert pending[1].measured_at == "2026-11-21T08:00:30+00:00"


def test_files_are_private(tmp_path: Path) -> None:
    make(tmp_path).append("usage", BODY, WHEN)
    assert (tmp_path / SPOOL_FILE).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / SEQ_FILE).stat().st_mode & 0o777 == 0o600


def test_ack_deletes_only_acknowledged_seqs(tmp_path: Path) -> None:
    spool = make(tmp_path)
    for _ in range(5):
        spool.append("usage", BODY, WHEN)
    assert spool.ack([2, 4, 99]) == 2  # 99 was never spooled
    assert [r.seq for r in spool.pending(10)] == [1, 3, 5]
    assert spool.depth() == 3


def test_pending_is_oldest_first_and_bounded_by_count_and_bytes(tmp_path: Path) -> None:
    spool = make(tmp_path)
    for _ in range(10):
        spool.append("usage", "x" * 100, WHEN)
    assert [r.seq for r in spool.pending(4)] == [1, 2, 3, 4]
    assert [r.seq for r in spool.pending(10, max_bytes=250)] == [1, 2]
    assert [r.seq for r in spool.pending(10, max_bytes=10)] == [1]  # one report always goes


def test_count_bound_drops_oldest_usage_never_inventory(tmp_path: Path) -> None:
    spool = make(tmp_path, max_reports=3)
    spool.append("inventory", '{"i":1}', WHEN)  # seq 1
    for _ in range(4):
        spool.append("usage", BODY, WHEN)  # seqs 2..5
    assert [(r.seq, r.kind) for r in spool.pending(10)] == [(1, "inventory"), (4, "usage"), (5, "usage")]
    assert spool.stats().dropped_usage == 2


def test_byte_bound_drops_oldest_usage(tmp_path: Path) -> None:
    spool = make(tmp_path, max_bytes=350)
    for _ in range(5):
        spool.append("usage", "u" * 100, WHEN)
    assert [r.seq for r in spool.pending(10)] == [3, 4, 5]
    assert spool.stats().size_bytes == 300


def test_inventory_only_spool_exceeds_bound_rather_than_dropping(tmp_path: Path) -> None:
    spool = make(tmp_path, max_reports=2)
    for _ in range(3):
        spool.append("inventory", '{"i":1}', WHEN)
    spool.append("usage", BODY, WHEN)  # the only usage is the one to go
    assert [r.kind for r in spool.pending(10)] == ["inventory"] * 3
    assert spool.stats().dropped_usage == 1


def test_drop_counter_is_persisted(tmp_path: Path) -> None:
    spool = make(tmp_path, max_reports=1)
    for _ in range(4):
        spool.append("usage", BODY, WHEN)
    spool.close()
    assert make(tmp_path, max_reports=1).stats().dropped_usage == 3


def test_set_aside_moves_reports_out_of_the_queue_and_counts_them(tmp_path: Path) -> None:
    spool = make(tmp_path)
    for _ in range(3):
        spool.append("usage", BODY, WHEN)
    assert spool.set_aside([2], "HTTP 422: bad") == 1
    assert [r.seq for r in spool.pending(10)] == [1, 3]
    assert spool.stats().rejected == 1
    kept = sqlite3.connect(tmp_path / SPOOL_FILE).execute("SELECT seq, reason FROM rejected").fetchall()
    assert kept == [(2, "HTTP 422: bad")]


def test_corrupt_spool_is_moved_aside_and_seq_continues_above_reservation(tmp_path: Path) -> None:
    spool = make(tmp_path)
    last = [spool.append("usage", BODY, WHEN) for _ in range(5)][-1]
    spool.close()
    (tmp_path / SPOOL_FILE).write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp_path / SPOOL_FILE) + suffix).unlink(missing_ok=True)
    fresh = make(tmp_path)
    assert fresh.depth() == 0
    assert fresh.stats().recovered_corrupt == 1
    assert list(tmp_path.glob(f"{SPOOL_FILE}.corrupt-*"))
    # seq 1 reserved 1..1+SEQ_RESERVE_BLOCK; the fresh spool continues above all of it
    seq = fresh.append("usage", BODY, WHEN)
    assert seq > last
    assert seq == 1 + SEQ_RESERVE_BLOCK + 1


def test_corruption_found_while_running_restarts_the_spool_and_keeps_the_report(tmp_path: Path) -> None:
    spool = make(tmp_path)
    first = spool.append("usage", BODY, WHEN)
    spool.close()
    (tmp_path / SPOOL_FILE).write_bytes(b"\0garbage" * 512)
    spool._conn = sqlite3.connect(tmp_path / SPOOL_FILE, isolation_level=None)
    seq = spool.append("usage", BODY, WHEN)
    assert seq > first
    assert [r.seq for r in spool.pending(10)] == [seq]


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make(tmp_path).append("metrics", BODY, WHEN)


def test_missing_reservation_file_with_intact_spool_keeps_counting(tmp_path: Path) -> None:
    spool = make(tmp_path)
    spool.append("usage", BODY, WHEN)
    spool.close()
    (tmp_path / SEQ_FILE).unlink()
    assert make(tmp_path).append("usage", BODY, WHEN) == 2
