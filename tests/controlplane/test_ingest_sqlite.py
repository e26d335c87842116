"""The writer's straight-to-sqlite3 statements store what SQLAlchemy would have stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from suanli.controlplane.store import reports
from suanli.controlplane.store.tables import nodes, usage_history

T0 = datetime(2026, 11, 21, 8, 0, 0, 123456, tzinfo=timezone.utc)


def _node(node_id: str) -> dict:
    return {
        "id": node_id, "status": "active", "datacenter_id": 1, "province_code": "CN-SD", "hostname": node_id,
        "inventory": "{}", "inventory_hash": "h", "inventory_changed_at": T0, "contribution": "{}",
        "enrolled_at": T0, "last_seen_at": T0, "status_changed_at": T0,
    }


@pytest.mark.parametrize("max_parameters", [32_766, 6])  # 6: two rows a statement, so three statements
def test_node_updates_reach_every_row_with_times_as_sqlalchemy_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_parameters: int
) -> None:
    monkeypatch.setattr(reports, "SQLITE_MAX_PARAMETERS", max_parameters)
    engine = create_engine(f"sqlite:///{tmp_path / 'nodes.db'}")
    nodes.create(engine)
    ids = [f"n{i}" for i in range(5)]
    with engine.begin() as connection:
        connection.execute(insert(nodes), [_node(node_id) for node_id in [*ids, "untouched"]])
        seen = {node_id: T0 + timedelta(minutes=i) for i, node_id in enumerate(ids)}
        reports._sqlite_update_nodes(
            connection, ("last_seen_at", "last_seq"),
            [{"b_id": node_id, "last_seen_at": seen[node_id], "last_seq": 100 + i} for i, node_id in enumerate(ids)],
        )
    with engine.connect() as connection:
        rows = {r.id: r for r in connection.execute(select(nodes.c.id, nodes.c.last_seen_at, nodes.c.last_seq))}
    assert {node_id: (rows[node_id].last_seen_at, rows[node_id].last_seq) for node_id in ids} == {
        node_id: (seen[node_id], 100 + i) for i, node_id in enumerate(ids)
    }
    assert (rows["untouched"].last_seen_at, rows["untouched"].last_seq) == (T0, 0)
    engine.dispose()


def test_sqlite_time_matches_a_non_utc_offset() -> None:
    """A time given with another offset is stored as the same instant in UTC."""
    beijing = timezone(timedelta(hours=8))
    assert reports._sqlite_time(T0.astimezone(beijing)) == reports._sqlite_time(T0) == "2026-11-21 08:00:00.123456"


def _usage_db(tmp_path: Path):  # noqa: ANN202
    engine = create_engine(f"sqlite:///{tmp_path / 'usage.db'}")
    nodes.create(engine)
    usage_history.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(nodes), [_node("a"), _node("b")])
    return engine


def _stored(engine) -> dict:  # noqa: ANN001
    with engine.connect() as connection:
        return {(r.node_id, r.seq): (r.body, r.sent_at) for r in connection.execute(select(usage_history))}


@pytest.mark.parametrize("keys_per_lookup", [5_000, 2])  # 2: the look-up of stored keys in three queries
def test_usage_insert_stores_only_new_keys_and_names_exactly_those(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys_per_lookup: int
) -> None:
    """Keys already stored are told apart by a look-up before the insert (no RETURNING): they come
    back as not written and keep their first body; every new key is written once. Only rows that
    may be stored are looked up (a seq above its node's highest cannot be)."""
    monkeypatch.setattr(reports, "_SQLITE_KEYS_PER_LOOKUP", keys_per_lookup)
    monkeypatch.setattr(reports, "_SQLITE_ROWS_PER_STATEMENT", 2)
    looked_up: list[tuple[str, int]] = []
    stored_keys = reports._sqlite_stored_keys
    monkeypatch.setattr(reports, "_sqlite_stored_keys", lambda connection, rows: (
        looked_up.extend((row.node_id, row.seq) for row in rows), stored_keys(connection, rows))[1])
    engine = _usage_db(tmp_path)
    row = reports.UsageRow
    with engine.begin() as connection:
        first = reports._sqlite_insert_usage(
            connection, [row("a", 1, T0, '{"first": 1}', False), row("b", 1, T0, '{"first": 1}', False)], T0
        )
        assert first == {("a", 1), ("b", 1)} and looked_up == []
        again = [row("a", 1, T0, '{"again": 1}', True), row("a", 2, T0, "{}", False), row("b", 1, T0, "[]", True),
                 row("b", 2, T0, '{"b": 2}', True), row("b", 3, T0 + timedelta(seconds=30), '{"b": 3}', False)]
        written = reports._sqlite_insert_usage(connection, again, T0)
        assert written == {("a", 2), ("b", 2), ("b", 3)}
        assert looked_up == [("a", 1), ("b", 1), ("b", 2)]
    assert _stored(engine) == {
        ("a", 1): ('{"first": 1}', T0), ("b", 1): ('{"first": 1}', T0), ("a", 2): ("{}", T0),
        ("b", 2): ('{"b": 2}', T0), ("b", 3): ('{"b": 3}', T0 + timedelta(seconds=30)),
    }
    engine.dispose()


def test_locked_nodes_arrive_through_one_json_row_with_their_types() -> None:
    """The lock query folds its rows into one JSON value: numbers stay numbers, text (quotes,
    non-ASCII) comes back as stored, and an unknown id is simply absent."""
    engine = create_engine("sqlite://")
    nodes.create(engine)
    contribution = '{"dims": ["CN-SD", "济南-1", "R\\"1", ""], "cores": 64}'
    with engine.begin() as connection:
        connection.execute(insert(nodes), [{**_node("a"), "contribution": contribution, "last_seq": 2**40}])
        locked = reports._lock_nodes(connection, ["a", "missing"])
    assert list(locked) == ["a"]
    row = locked["a"]
    assert (row.status, row.last_seq, row.usage_seq, row.contribution, row.inventory_hash) == (
        "active", 2**40, 0, contribution, "h"
    )
    assert isinstance(row.last_seq, int)
    engine.dispose()
