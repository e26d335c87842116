"""Ingest of report batches: many requests' batches written in one transaction (group commit).

Synchronous on purpose: the writer runs a whole group on a thread of its own (SQLite) or in one
greenlet (PostgreSQL), instead of a thread hand-off per statement (`db.SyncTransactions.group_writer`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import Connection, text
from sqlalchemy.dialects import postgresql, sqlite

from suanli.controlplane import contribution as contrib
from suanli.controlplane.db import SQLITE_MAX_PARAMETERS, postgres_execute, postgres_fetch, postgres_unnest_arguments
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store import aggregates
from suanli.controlplane.store.nodes import NodeIdentity, inventory_hash
from suanli.controlplane.store.tables import inventory_history, nodes
from suanli.schema import BatchAck, InventoryReport, UsageReport


class ReportPoint(NamedTuple):
    """What the writer needs of every report of a batch (its node is the batch's)."""

    seq: int
    is_usage: bool
    sent_at: datetime


@dataclass
class IngestItem:
    """One request's batch, already validated and checked to name only the caller's node.

    Only what the writer needs is kept, not the validated models of every report: a batch waits
    for its group to commit, and the models of 64 waiting requests (~110 objects a 10-report
    batch) made the parse of the next ones slower for the cache misses (the bench's batch: 16–19
    µs a report alone, 27 in the server; dropping them took the PostgreSQL server from 89.5 to
    72.8 µs of CPU a report, side by side, bench/RESULTS.md). Of a usage report's body only
    the text is kept, except the batch's newest, the one report that can become its node's
    latest usage (any older one is older than it, or than what the node has stored already);
    inventory reports are kept whole.

    The usage history stores each usage body as JSON text, cut out of the request's own bytes
    by position where that is safe (`cut_bodies`, ~1.5 µs a report), else encoded with pydantic
    (~8 µs). Cut here, on the event loop, on both stores: on SQLite the writer thread, not the
    loop, bounds the rate, and SQLite cutting the bodies out of the request text itself (JSON
    functions, GIL free) made every report cost the writer more (bench/RESULTS.md)."""

    node: NodeIdentity
    points: list[ReportPoint]
    inventories: dict[int, InventoryReport]  # by index in the batch
    newest_usage_index: int | None  # the first report carrying the batch's highest usage seq
    newest_usage: UsageReport | None
    usage_json: list[str | None]  # each usage body's text, None for an inventory report

    @classmethod
    def prepare(
        cls, node: NodeIdentity, reports: list[InventoryReport | UsageReport], request_body: bytes
    ) -> IngestItem:
        """`request_body`: the request's bytes, which `reports` were validated from."""
        bodies = cut_bodies(request_body, len(reports))
        if bodies is not None:
            usage_json: list[str | None] = [b if r.kind == "usage" else None for r, b in zip(reports, bodies)]
        else:
            usage_json = [r.body.model_dump_json() if r.kind == "usage" else None for r in reports]
        points: list[ReportPoint] = []
        inventories: dict[int, InventoryReport] = {}
        newest_index: int | None = None
        newest_seq = 0
        for index, report in enumerate(reports):
            is_usage = report.kind == "usage"
            points.append(ReportPoint(report.seq, is_usage, report.sent_at))
            if not is_usage:
                inventories[index] = report  # type: ignore[assignment]
            elif report.seq > newest_seq:
                newest_index, newest_seq = index, report.seq
        newest = reports[newest_index] if newest_index is not None else None
        return cls(node, points, inventories, newest_index, newest, usage_json)  # type: ignore[arg-type]


def cut_bodies(request_body: bytes, reports: int) -> list[str] | None:
    """Each report's body as the request spells it, in order; None where the text is not laid out
    as below (the caller encodes the bodies instead). Found by position, without parsing: ~1.5 µs
    a report against ~8 µs to encode it.

    Why the positions are right. Without any escape every key is spelled out literally, so the
    text holds exactly one `"body"` per report (checked: none more) only if each report has one
    body key and no other key or string is spelled so: the i-th is report i's key (pydantic took
    the last of duplicate keys, and there are none). Validation made sure that outside its body
    a report holds only scalars with no bracket or brace in them (`extra="forbid"`; a node id
    pattern, numbers, literals and a time: `test_envelopes_hold_nothing_a_cut_could_be_misled_by`)
    and that the batch holds only its "reports" array. So a body starts at the "{" after its key,
    the next report opens at the last "{" before the next key, the last report closes at the
    last "}" before the text's last "]", and a body ends at the last "}" before its report's."""
    if b"\\" in request_body:
        return None
    keys: list[int] = []
    starts: list[int] = []
    position = 0
    for _ in range(reports):
        key = request_body.find(b'"body"', position)
        start = request_body.find(b"{", key + 6) if key >= 0 else -1
        if start < 0 or request_body[key + 6:start].strip() != b":":
            return None
        keys.append(key)
        starts.append(start)
        position = start
    if request_body.find(b'"body"', position) >= 0:
        return None
    bodies: list[str] = []
    array_end = request_body.rfind(b"]")
    for index, start in enumerate(starts):
        report_end = array_end if index + 1 == reports else request_body.rfind(b"{", start, keys[index + 1])
        end = request_body.rfind(b"}", start, request_body.rfind(b"}", start, report_end))
        if end < 0:
            return None
        try:
            bodies.append(request_body[start:end + 1].decode())
        except UnicodeDecodeError:
            return None
    return bodies


@dataclass
class _NodeState:
    """A node's row as read under lock, and what this transaction changes in it."""

    row: Any
    inventory: InventoryReport | None = None
    usage: UsageReport | None = None
    usage_body_json: str | None = None  # the text of `usage`'s body
    last_seq: int = 0

    @functools.cached_property
    def old(self) -> contrib.Contribution:
        """The stored contribution, decoded only when this transaction changes it."""
        return contrib.Contribution.from_json(self.row.contribution)


@dataclass(frozen=True)
class IngestPolicy:
    in_use_threshold_percent: float
    catalog: contrib.FlopsCatalog


def _insert(connection: Connection, table: Any) -> Any:
    return (postgresql if connection.dialect.name == "postgresql" else sqlite).insert(table)


class _LockedNode(NamedTuple):
    """The columns of a node's row the writer reads under lock."""

    id: str
    status: str
    inventory_seq: int
    usage_seq: int
    last_seq: int
    compacted_seq: int
    contribution: str
    inventory_hash: str


_LOCKED_COLUMNS = ", ".join(_LockedNode._fields)
# A fixed statement (an array, not an IN list that SQLAlchemy expands per call): compiled once.
# Rows are locked in id order, so concurrent writers on PostgreSQL never deadlock.
_POSTGRES_LOCK_NODES = text(
    f"SELECT {_LOCKED_COLUMNS} FROM nodes WHERE id = ANY(CAST(:node_ids AS VARCHAR[])) ORDER BY id FOR UPDATE"
)


def _lock_nodes(connection: Connection, node_ids: list[str]) -> dict[str, _LockedNode]:
    """The group's node rows, locked for this transaction (SQLite: the writer holds the write lock)."""
    if connection.dialect.name == "sqlite":
        placeholders = ", ".join(["?"] * len(node_ids))  # at most one per request of the group
        rows = _sqlite_one_row_json(
            connection, f"SELECT json_group_array(json_array({_LOCKED_COLUMNS})) FROM nodes WHERE id IN ({placeholders})",
            node_ids,
        )
        return {row[0]: _LockedNode(*row) for row in rows}
    rows = connection.execute(_POSTGRES_LOCK_NODES, {"node_ids": node_ids}).all()
    return {row[0]: _LockedNode(*row) for row in rows}


def _sqlite_one_row_json(connection: Connection, statement: str, parameters: list[Any]) -> list[list[Any]]:
    """Rows a query folds into one JSON array, fetched in a single sqlite3 step.

    Why: sqlite3 gives up the GIL for every row it steps to, and while the event loop parses
    requests the writer thread then waits for the GIL again after each row (measured: a 30-row
    lock query took 6 ms of wall for 0.7 ms of CPU). One row means one wait."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        (folded,) = cursor.execute(statement, parameters).fetchone()
    finally:
        cursor.close()
    return json.loads(folded)


_SQLITE_USAGE_INSERT = "INSERT INTO usage_history (node_id, seq, sent_at, received_at, body, downsampled) "
_SQLITE_ROWS_PER_STATEMENT = 500  # 5 parameters a row, well under SQLITE_MAX_PARAMETERS
_SQLITE_KEYS_PER_LOOKUP = 5_000  # 2 parameters a key


def _sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores: naive UTC with microseconds.

    Validated times are already in UTC, so the common case is one isoformat without its offset."""
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat(sep=" ", timespec="microseconds")[:26]


class UsageRow(NamedTuple):
    """A usage point to store. `maybe_stored`: its seq is not above the highest its node has
    stored (read under lock), so it may be a redelivery; any other is new for certain."""

    node_id: str
    seq: int
    sent_at: datetime
    body_json: str
    maybe_stored: bool


def _sqlite_insert_usage(connection: Connection, rows: list[UsageRow], now: datetime) -> set[tuple[str, int]]:
    """The hottest statement on SQLite, straight to sqlite3: per-row parameter processing in
    SQLAlchemy cost more than the insert itself. Keys that may be stored already (a redelivery)
    are looked up first, in one query folded into one row, and only the others inserted, many rows
    per statement and without RETURNING: every row sqlite3 steps through gives up the GIL, and
    the writer thread then waits for the event loop to hand it back (see `_sqlite_one_row_json`).
    The writer holds SQLite's write lock, so nothing can store a key between look-up and insert."""
    maybe_stored = [row for row in rows if row.maybe_stored]
    stored = _sqlite_stored_keys(connection, maybe_stored) if maybe_stored else set()
    new_rows = [row for row in rows if (row.node_id, row.seq) not in stored] if stored else rows
    received = _sqlite_time(now)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(new_rows), _SQLITE_ROWS_PER_STATEMENT):
            chunk = new_rows[start:start + _SQLITE_ROWS_PER_STATEMENT]
            statement = _SQLITE_USAGE_INSERT + "VALUES " + ", ".join(["(?, ?, ?, ?, ?, 0)"] * len(chunk))
            parameters: list[Any] = []
            for row in chunk:
                parameters += (row.node_id, row.seq, _sqlite_time(row.sent_at), received, row.body_json)
            cursor.execute(statement, parameters)
    finally:
        cursor.close()
    return {(row.node_id, row.seq) for row in new_rows}


def _sqlite_stored_keys(connection: Connection, rows: list[UsageRow]) -> set[tuple[str, int]]:
    """Which of the rows' (node_id, seq) keys the history holds already."""
    stored: set[tuple[str, int]] = set()
    for start in range(0, len(rows), _SQLITE_KEYS_PER_LOOKUP):
        chunk = rows[start:start + _SQLITE_KEYS_PER_LOOKUP]
        keys: list[Any] = []
        for row in chunk:
            keys += (row.node_id, row.seq)
        found = _sqlite_one_row_json(
            connection,
            # A join, not `(node_id, seq) IN (VALUES …)`: SQLite plans that as a scan of the table.
            "SELECT json_group_array(json_array(u.node_id, u.seq)) FROM (VALUES "
            + ", ".join(["(?, ?)"] * len(chunk))
            + ") AS k JOIN usage_history AS u ON u.node_id = k.column1 AND u.seq = k.column2",
            keys,
        )
        stored.update((node_id, seq) for node_id, seq in found)
    return stored


# One fixed statement whatever the group's size: PostgreSQL plans it once, and the rows travel
# as four arrays instead of five bound parameters each.
_POSTGRES_INSERT_USAGE = (
    "INSERT INTO usage_history (node_id, seq, sent_at, received_at, body, downsampled) "
    "SELECT u.node_id, u.seq, u.sent_at, $1, u.body, false FROM unnest("
    "CAST($2 AS VARCHAR[]), CAST($3 AS BIGINT[]), CAST($4 AS TIMESTAMPTZ[]), CAST($5 AS TEXT[])) "
    "AS u(node_id, seq, sent_at, body) ON CONFLICT DO NOTHING RETURNING node_id, seq"
)


def _postgres_insert_usage(connection: Connection, rows: list[UsageRow], now: datetime) -> set[tuple[str, int]]:
    """Bodies come as text (`IngestItem.prepare`: cut from the request by position, or encoded),
    not cut out of the requests by PostgreSQL: the transaction runs on the event loop either way,
    and PostgreSQL parsing whole requests as JSON cost more than it saved (measured side by side:
    6 300–6 900 → 5 800–6 500 reports/s)."""
    written = postgres_fetch(
        connection, _POSTGRES_INSERT_USAGE, now, [row.node_id for row in rows], [row.seq for row in rows],
        [row.sent_at for row in rows], [row.body_json for row in rows],
    )
    return {(node_id, seq) for node_id, seq in written}


def _insert_usage(connection: Connection, rows: list[UsageRow], now: datetime) -> set[tuple[str, int]]:
    """Insert the usage rows not there yet; the (node_id, seq) keys actually written come back."""
    if not rows:
        return set()
    if connection.dialect.name == "sqlite":
        return _sqlite_insert_usage(connection, rows, now)
    return _postgres_insert_usage(connection, rows, now)


def _insert_new(
    connection: Connection, table: Any, rows: list[dict[str, Any]]
) -> set[tuple[str, int]]:
    """Insert what is not there yet; the (node_id, seq) keys actually written come back."""
    if not rows:
        return set()
    statement = _insert(connection, table).on_conflict_do_nothing().returning(table.c.node_id, table.c.seq)
    result = connection.execute(statement, rows)
    return {(row.node_id, row.seq) for row in result.all()}


def _candidates(
    items: list[IngestItem], states: dict[str, _NodeState], now: datetime
) -> tuple[list[list[tuple[str, int]]], list[UsageRow], list[dict[str, Any]]]:
    """Split every batch into rows to try; a seq seen twice in this transaction is tried once."""
    seen: set[tuple[str, int]] = set()
    tried: list[list[tuple[str, int]]] = []
    usage_rows: list[UsageRow] = []
    inventory_rows: list[dict[str, Any]] = []
    for item in items:
        node_id = item.node.node_id
        compacted_seq, last_seq = states[node_id].row.compacted_seq, states[node_id].row.last_seq
        mine: list[tuple[str, int]] = []
        for index, point in enumerate(item.points):
            key = (node_id, point.seq)
            if key in seen or (point.is_usage and point.seq <= compacted_seq):
                continue
            seen.add(key)
            mine.append(key)
            if point.is_usage:
                body_json = item.usage_json[index]
                assert body_json is not None  # every usage report's body is kept as text
                usage_rows.append(UsageRow(node_id, point.seq, point.sent_at, body_json, point.seq <= last_seq))
            else:
                inventory_rows.append(
                    {"node_id": node_id, "seq": point.seq, "sent_at": point.sent_at,
                     "received_at": now, "inventory_hash": inventory_hash(item.inventories[index].body)}
                )
        tried.append(mine)
    return tried, usage_rows, inventory_rows


def _acknowledge(item: IngestItem, fresh: set[tuple[str, int]], state: _NodeState) -> BatchAck:
    """The batch's answer, in its order, noting what was stored on its node's state. A seq twice in
    one batch was stored once (the first copy, the one `_candidates` tried): the rest are duplicates."""
    accepted: list[int] = []
    duplicates: list[int] = []
    node_id = item.node.node_id
    for index, point in enumerate(item.points):
        key = (node_id, point.seq)
        if key in fresh:
            fresh.discard(key)
            accepted.append(point.seq)
            _note_accepted(state, item, index, point)
        else:
            duplicates.append(point.seq)
    # Built without validation: the seqs are validated reports'.
    return BatchAck.model_construct(accepted=accepted, duplicates=duplicates)


def _note_accepted(state: _NodeState, item: IngestItem, index: int, point: ReportPoint) -> None:
    """Only the batch's newest usage report can be its node's latest: an older accepted one is
    older than it, which was accepted too or is stored already (so the node's usage seq is past it)."""
    state.last_seq = max(state.last_seq, point.seq)
    if not point.is_usage:
        if point.seq > state.row.inventory_seq and (state.inventory is None or point.seq > state.inventory.seq):
            state.inventory = item.inventories[index]
    elif (index == item.newest_usage_index and point.seq > state.row.usage_seq
          and (state.usage is None or point.seq > state.usage.seq)):
        state.usage = item.newest_usage
        state.usage_body_json = item.usage_json[index]


def _new_contribution(state: _NodeState, policy: IngestPolicy) -> contrib.Contribution | None:
    """The node's contribution after this transaction, or None where it stays as stored (usage
    alone whose in-use set did not move: most reports, told without decoding the stored one)."""
    if state.inventory is None and state.usage is None:
        return None
    if state.usage is not None:
        in_use = contrib.in_use_indexes(state.usage.body, policy.in_use_threshold_percent)
    else:
        in_use = set(state.old.in_use)  # an inventory alone: decoded anyway for its dims
    if state.inventory is not None:
        location = state.inventory.body.location
        dims = (*state.old.dims[:2], location.rack or "", state.old.dims[3])
        return contrib.compute(state.inventory.body, dims, in_use, policy.catalog)  # type: ignore[arg-type]
    if sorted(in_use) != contrib.Contribution.in_use_from_json(state.row.contribution):
        return contrib.with_in_use(state.old, in_use)
    return None


def _node_changes(state: _NodeState, new: contrib.Contribution | None, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {"last_seen_at": now, "last_seq": max(state.row.last_seq, state.last_seq)}
    if new is not None:
        changes["contribution"] = new.to_json()
    if state.inventory is not None:
        body = state.inventory.body
        digest = inventory_hash(body)
        changes.update(
            inventory=body.model_dump_json(), inventory_seq=state.inventory.seq, hostname=body.host.hostname,
            room=body.location.room or "", rack=body.location.rack or "",
        )
        changes["inventory_hash"] = digest
        changes["_inventory_hash_changed"] = digest != state.row.inventory_hash
    if state.usage is not None:
        changes.update(
            latest_usage=state.usage_body_json,
            usage_seq=state.usage.seq, usage_sent_at=state.usage.sent_at,
        )
    return changes


def _update_nodes(connection: Connection, updates: dict[str, dict[str, Any]], now: datetime) -> None:
    """One executemany per distinct set of changed columns (usually two or three statements)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for node_id, changes in sorted(updates.items()):
        changed = changes.pop("_inventory_hash_changed", False)
        if changed:
            # inventory_changed_at moves only when the facts changed, not on every resend.
            changes["inventory_changed_at"] = now
        groups.setdefault(tuple(sorted(changes)), []).append({"b_id": node_id, **changes})
    for columns, rows in groups.items():
        if connection.dialect.name == "sqlite":
            _sqlite_update_nodes(connection, columns, rows)
        else:
            arrays = [[row["b_id"] for row in rows], *([row[name] for row in rows] for name in columns)]
            postgres_execute(connection, _postgres_update_nodes_statement(columns), *arrays)


def _sqlite_update_nodes(connection: Connection, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """Straight to sqlite3, like the usage insert, and one statement for all rows (UPDATE … FROM
    VALUES): SQLAlchemy's per-row parameter processing cost more than the update, and an
    executemany gives up the GIL once per row, each time waiting for the event loop to hand it
    back. Column names come from `_node_changes` only."""
    assignments = ", ".join(f"{name} = v.column{position}" for position, name in enumerate(columns, start=2))
    row_placeholders = "(" + ", ".join(["?"] * (len(columns) + 1)) + ")"
    rows_per_statement = SQLITE_MAX_PARAMETERS // (len(columns) + 1)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), rows_per_statement):
            chunk = rows[start:start + rows_per_statement]
            values = ", ".join([row_placeholders] * len(chunk))
            parameters: list[Any] = []
            for row in chunk:
                parameters.append(row["b_id"])
                parameters += (_sqlite_value(row[name]) for name in columns)
            cursor.execute(f"UPDATE nodes SET {assignments} FROM (VALUES {values}) AS v WHERE nodes.id = v.column1",
                           parameters)
    finally:
        cursor.close()


def _sqlite_value(value: Any) -> Any:
    return _sqlite_time(value) if isinstance(value, datetime) else value


@functools.lru_cache(maxsize=64)
def _postgres_update_nodes_statement(columns: tuple[str, ...]) -> str:
    """One UPDATE … FROM unnest() per set of changed columns (only a handful of sets occur): all
    the group's rows in one Bind, a column's values as one array. The rows are locked already
    (`_lock_nodes`), so the order they are updated in cannot deadlock."""
    names = ("id", *columns)
    assignments = ", ".join(f"{name} = v.{name}" for name in columns)
    return (f"UPDATE nodes SET {assignments} FROM unnest({postgres_unnest_arguments(nodes, names)}) "
            f"AS v({', '.join(names)}) WHERE nodes.id = v.id")


def ingest(
    connection: Connection, items: list[IngestItem], now: datetime, policy: IngestPolicy
) -> list[BatchAck | ApiError]:
    """Store the batches of many requests in the caller's transaction; one answer per item."""
    rows = _lock_nodes(connection, sorted({item.node.node_id for item in items}))
    results: list[BatchAck | ApiError | None] = [None] * len(items)
    live: list[int] = []
    for index, item in enumerate(items):
        row = rows.get(item.node.node_id)
        if row is None or row.status == "revoked":
            results[index] = ApiError("node_revoked" if row is not None else "invalid_credential")
        else:
            live.append(index)
    states = {node_id: _NodeState(row=row) for node_id, row in rows.items()}
    live_items = [items[i] for i in live]
    tried, usage_rows, inventory_rows = _candidates(live_items, states, now)
    written = _insert_usage(connection, usage_rows, now)
    written |= _insert_new(connection, inventory_history, inventory_rows)
    for index, item, mine in zip(live, live_items, tried):
        fresh = {key for key in mine if key in written}
        results[index] = _acknowledge(item, fresh, states[item.node.node_id])
    _write_node_changes(connection, states, now, policy)
    return results  # type: ignore[return-value]


def _write_node_changes(
    connection: Connection, states: dict[str, _NodeState], now: datetime, policy: IngestPolicy
) -> None:
    delta = aggregates.AggregateDelta()
    updates: dict[str, dict[str, Any]] = {}
    for node_id, state in states.items():
        if state.last_seq == 0:
            continue  # nothing new from this node: leave its row alone
        new = _new_contribution(state, policy)
        if new is not None:
            delta.replace(state.old, new)
        updates[node_id] = _node_changes(state, new, now)
    _update_nodes(connection, updates, now)
    aggregates.apply(connection, delta)
