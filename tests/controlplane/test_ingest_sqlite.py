"""The writer's straight-to-sqlite3 statements store what SQLAlchemy would have stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from suanli.controlplane.store import reports
from suanli.controlplane.store.tables import nodes

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
    monkeypatch.setattr(reports, "_SQLITE_MAX_PARAMETERS", max_parameters)
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
