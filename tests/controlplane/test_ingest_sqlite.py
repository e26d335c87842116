"""The writer's straight-to-sqlite3 statements store what SQLAlchemy would have stored."""

from __future__ import annotations

import sqlite3
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


class _Item:
    """What the usage insert asks of a group's item: its request text, and its bodies encoded."""

    def __init__(self, request_text: str | None, encoded: dict[int, str] | None = None) -> None:
        self.request_text = request_text
        self.encoded = encoded or {}

    def encode_body(self, index: int) -> str:
        return self.encoded[index]


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
    back as not written and keep their first body; every new key is written once, whether its body
    was encoded in Python or is cut by SQLite out of its request's text."""
    monkeypatch.setattr(reports, "_SQLITE_KEYS_PER_LOOKUP", keys_per_lookup)
    monkeypatch.setattr(reports, "_SQLITE_ROWS_PER_STATEMENT", 2)
    engine = _usage_db(tmp_path)
    row = reports.UsageRow
    request = '{"reports": [{"seq": 2, "body": {"cut": 2}}, {"seq": 3, "body": {"cut": [3, "x"]}}]}'
    with engine.begin() as connection:
        first = reports._sqlite_insert_usage(
            connection, [row("a", 1, T0, '{"first": 1}', 0, 0), row("b", 1, T0, '{"first": 1}', 1, 0)],
            [_Item(None), _Item(None)], T0,
        )
        assert first == {("a", 1), ("b", 1)}
        again = [row("a", 1, T0, '{"again": 1}', 0, 0), row("a", 2, T0, "{}", 0, 1), row("b", 1, T0, None, 1, 0),
                 row("b", 2, T0, None, 1, 0), row("b", 3, T0 + timedelta(seconds=30), None, 1, 1)]
        written = reports._sqlite_insert_usage(connection, again, [_Item(None), _Item(request)], T0)
        assert written == {("a", 2), ("b", 2), ("b", 3)}
    assert _stored(engine) == {
        ("a", 1): ('{"first": 1}', T0), ("b", 1): ('{"first": 1}', T0), ("a", 2): ("{}", T0),
        ("b", 2): ('{"cut":2}', T0), ("b", 3): ('{"cut":[3,"x"]}', T0 + timedelta(seconds=30)),
    }
    engine.dispose()


@pytest.mark.parametrize(
    ("request_text", "expected_bodies"),
    [
        # SQLite refuses the text: the statement stores nothing, every body of it is encoded.
        ('{"reports": [{"seq": 1, "body": {"cut": 1}}, {"seq": 2, "body": {"cut": 2}}',
         {("a", 1): '{"encoded": 1}', ("a", 2): '{"encoded": 2}', ("b", 1): '{"encoded": "b"}'}),
        # No report at index 1: one row short; what was cut stays, the missing one is encoded.
        ('{"reports": [{"seq": 1, "body": {"cut": 1}}]}',
         {("a", 1): '{"cut":1}', ("a", 2): '{"encoded": 2}', ("b", 1): '{"cut":"b"}'}),
    ],
)
def test_usage_bodies_sqlite_cannot_cut_out_are_encoded_instead(
    tmp_path: Path, request_text: str, expected_bodies: dict
) -> None:
    """Whatever SQLite could not cut out of a request is stored from the validated reports: no
    acknowledged point goes missing, and what the statement did store is kept, once."""
    engine = _usage_db(tmp_path)
    row = reports.UsageRow
    rows = [row("a", 1, T0, None, 0, 0), row("a", 2, T0, None, 0, 1), row("b", 1, T0, None, 1, 0)]
    items = [_Item(request_text, {0: '{"encoded": 1}', 1: '{"encoded": 2}'}),
             _Item('{"reports": [{"seq": 1, "body": {"cut": "b"}}]}', {0: '{"encoded": "b"}'})]
    with engine.begin() as connection:
        assert reports._sqlite_insert_usage(connection, rows, items, T0) == {("a", 1), ("a", 2), ("b", 1)}
    assert {key: body for key, (body, _sent_at) in _stored(engine).items()} == expected_bodies
    engine.dispose()


def test_a_full_database_is_not_taken_for_a_text_sqlite_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while cutting bodies out fails the write, as on the encoded path: no rows are
    encoded and stored instead (SQLite may have rolled the whole transaction back by then)."""
    engine = _usage_db(tmp_path)
    encoded_rows: list[int] = []
    insert_encoded = reports._sqlite_insert_encoded
    monkeypatch.setattr(reports, "_sqlite_insert_encoded",
                        lambda cursor, rows, received: (encoded_rows.append(len(rows)), insert_encoded(cursor, rows, received))[1])
    big = "x" * 200_000
    request = '{"reports": [{"seq": 1, "body": {"cut": "' + big + '"}}]}'
    with engine.begin() as connection:
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar()
        connection.exec_driver_sql(f"PRAGMA max_page_count = {pages + 5}")  # 20 KiB left: a full disk
        with pytest.raises(sqlite3.OperationalError, match="full"):
            reports._sqlite_insert_usage(connection, [reports.UsageRow("a", 1, T0, None, 0, 0)],
                                         [_Item(request, {0: '{"encoded": 1}'})], T0)
    assert encoded_rows == [0]  # the encoded path had nothing of its own, and was not asked again
    assert _stored(engine) == {}
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


@pytest.mark.parametrize(
    ("request_body", "reports_in_batch", "cuttable"),
    [
        (b'{"reports": [{"seq": 1, "body": {"a": 1}}, {"seq": 2, "body": {}}]}', 2, True),
        (b' \n{"reports": [{"seq": 1, "body": {}}]}', 1, True),  # leading whitespace is fine
        (b'{"reports": [{"seq": 1, "body": {}, "body": {}}]}', 1, False),  # a report's body twice
        (b'{"reports": [], "reports": [{"seq": 1, "body": {}}]}', 1, False),  # the batch's reports twice
        (b'{"reports": [{"seq": 1, "body": {"m": "body"}}]}', 1, False),  # "body" as a value: counted too
        (b'{"reports": [{"seq": 1, "body": {"m": "a\\"b"}}]}', 1, False),  # any escape, not only \\u
        (b'{"reports": [{"seq": 1, "\\u0062ody": {}, "body": {}}]}', 1, False),  # a key spelled with an escape
        (b'\xef\xbb\xbf{"reports": [{"seq": 1, "body": {}}]}', 1, False),  # a byte-order mark
        (b'{"reports": [{"seq": 1, "body": {"m": "\xff"}}]}', 1, False),  # not UTF-8
    ],
)
def test_database_cuts_bodies_only_out_of_requests_where_it_finds_what_pydantic_validated(
    request_body: bytes, reports_in_batch: int, cuttable: bool
) -> None:
    text = reports.cuttable_text(request_body, reports_in_batch)
    assert (text is not None) == cuttable
    if cuttable:
        assert text == request_body.decode()
