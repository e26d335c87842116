"""Live aggregates kept incrementally: a node's change is applied as (new − old) in its own transaction.

`apply` is synchronous (the ingest writer calls it in its database thread); async callers use
`await connection.run_sync(apply, delta)`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, select

from suanli.controlplane.db import SQLITE_MAX_PARAMETERS, postgres_execute, postgres_unnest_arguments
from suanli.controlplane.contribution import VENDOR_TOTAL_MODEL, Contribution, Dims, ModelPart, vendor_parts
from suanli.controlplane.store import network
from suanli.controlplane.store.network import Scope
from suanli.controlplane.store.tables import (
    ALL,
    LEVEL_ALL,
    LEVEL_DATACENTER,
    LEVEL_PROVINCE,
    LEVEL_RACK,
    NODE_STATUSES,
    TOTALS_VALUE_COLUMNS,
    capacity_totals,
    model_totals,
    nodes,
)

_DIM_NAMES = ("level", "province", "datacenter", "rack", "status")
LevelDims = tuple[int, str, str, str, str]
ALL_MODELS = (ALL, ALL)


def rollups(dims: Dims) -> list[LevelDims]:
    """The rack row of a node's place and the data-center and province rows that add it up."""
    province, datacenter, rack, status = dims
    return [
        (LEVEL_RACK, province, datacenter, rack, status),
        (LEVEL_DATACENTER, province, datacenter, "", status),
        (LEVEL_PROVINCE, province, "", "", status),
    ]


def network_scopes(contribution: Contribution) -> list[Scope]:
    """Every scope a node's network sources count in: its rack, data center, province and all
    places, each for all nodes, for each vendor of its accelerators and for each model."""
    province, datacenter, rack, _ = contribution.dims
    places = [(LEVEL_RACK, province, datacenter, rack), (LEVEL_DATACENTER, province, datacenter, ""),
              (LEVEL_PROVINCE, province, "", ""), (LEVEL_ALL, "", "", "")]
    keys = {ALL_MODELS, *((vendor, ALL) for vendor, _ in contribution.models), *contribution.models}
    return [(*place, *key) for place in places for key in sorted(keys)]


@dataclass
class AggregateDelta:
    """Summed changes to the aggregate tables, gathered over a whole transaction."""

    capacity: dict[LevelDims, dict[str, float]] = field(default_factory=dict)
    models: dict[tuple[LevelDims, str, str], tuple[bool, dict[str, float]]] = field(default_factory=dict)
    # (scope, source) -> change of the nodes mounting it, per status (NODE_STATUSES order).
    source_refs: dict[tuple[Scope, str], list[int]] = field(default_factory=dict)
    # (source, size) -> change of the node mounts reporting that size, whatever the place or status.
    source_sizes: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, contribution: Contribution | None, sign: int) -> None:
        """Add (+1) or subtract (−1) one node's contribution, at every level."""
        if contribution is None:
            return
        vendors = vendor_parts(contribution)
        for dims in rollups(contribution.dims):
            _accumulate(self.capacity.setdefault(dims, {}), contribution.node, sign)
            for (vendor, model), part in contribution.models.items():
                self.add_model(dims, vendor, model, part, sign)
            for vendor, part in vendors.items():
                self.add_model(dims, vendor, VENDOR_TOTAL_MODEL, part, sign)
        self.add_network(contribution, sign)

    def add_model(self, dims: LevelDims, vendor: str, model: str, part: ModelPart, sign: int) -> None:
        known, values = self.models.setdefault((dims, vendor, model), (part.known, {}))
        _accumulate(values, part.values, sign)

    def add_network(self, contribution: Contribution, sign: int) -> None:
        """The network-storage part of `add` alone."""
        if not contribution.sources:
            return
        status = NODE_STATUSES.index(contribution.dims[3])
        scopes = network_scopes(contribution)
        for source, size_bytes in contribution.sources.items():
            self.source_sizes[(source, size_bytes)] = self.source_sizes.get((source, size_bytes), 0) + sign
            for scope in scopes:
                self.source_refs.setdefault((scope, source), [0] * len(NODE_STATUSES))[status] += sign

    def replace(self, old: Contribution | None, new: Contribution | None) -> None:
        self.add(old, -1)
        self.add(new, +1)


def _accumulate(target: dict[str, float], values: dict[str, float], sign: int) -> None:
    for name, value in values.items():
        if value:
            target[name] = target.get(name, 0) + sign * value


def _row(dims: LevelDims, values: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = dict(zip(_DIM_NAMES, dims))
    for name in TOTALS_VALUE_COLUMNS:
        value = values.get(name, 0)
        row[name] = value if name.startswith("flops_") else int(value)
    return row


def _upsert_sums(
    connection: Connection, table: Table, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    # Sorted keys: concurrent writers on PostgreSQL lock rows in one order, so they never deadlock.
    rows.sort(key=lambda row: tuple(str(row[k]) for k in keys))
    columns = tuple(rows[0])
    if connection.dialect.name == "postgresql":
        arrays = [[row[name] for row in rows] for name in columns]
        postgres_execute(connection, _postgres_upsert_sums_statement(table, tuple(keys), columns), *arrays)
        return
    # SQLite: all rows in one statement. An executemany steps once per row, and on the ingest
    # writer thread each step gives up the GIL and waits for the event loop to hand it back.
    rows_per_statement = SQLITE_MAX_PARAMETERS // len(columns)
    for start in range(0, len(rows), rows_per_statement):
        chunk = rows[start:start + rows_per_statement]
        parameters = tuple(row[name] for row in chunk for name in columns)
        connection.exec_driver_sql(_sqlite_upsert_sums_statement(table, tuple(keys), columns, len(chunk)), parameters)


def _summed(table: Table) -> str:
    """The upserts' SET clause: each figure added to what the row holds."""
    return ", ".join(f"{name} = {table.name}.{name} + excluded.{name}" for name in TOTALS_VALUE_COLUMNS)


@functools.lru_cache(maxsize=64)
def _sqlite_upsert_sums_statement(table: Table, keys: tuple[str, ...], columns: tuple[str, ...], rows: int) -> str:
    """The upsert of `rows` rows as one multi-row VALUES (a handful of row counts occur)."""
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {', '.join([row] * rows)} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {_summed(table)}")


@functools.lru_cache(maxsize=16)
def _postgres_upsert_sums_statement(table: Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> str:
    """The upsert with all rows as one array per column (one Bind, not one per row), inserted
    in the order given (WITH ORDINALITY), which is the order rows are locked in."""
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(columns)} "
        f"FROM unnest({postgres_unnest_arguments(table, columns)}) WITH ORDINALITY AS v({', '.join(columns)}, position) "
        f"ORDER BY position ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {_summed(table)}"
    )


def _nonzero(values: dict[str, float]) -> bool:
    return any(values.values())


def apply(connection: Connection, delta: AggregateDelta) -> None:
    """Write the summed delta: one upsert statement per sum table, then the network storage."""
    capacity_rows = [_row(d, v) for d, v in delta.capacity.items() if _nonzero(v)]
    _upsert_sums(connection, capacity_totals, list(_DIM_NAMES), capacity_rows)
    model_rows = [
        {**_row(d, v), "vendor": vendor, "model": model, "known": known}
        for (d, vendor, model), (known, v) in delta.models.items()
        if _nonzero(v)
    ]
    _upsert_sums(connection, model_totals, [*_DIM_NAMES, "vendor", "model"], model_rows)
    network.apply(connection, delta.source_refs, delta.source_sizes)


def rebuild_vendor_rows(connection: Connection) -> None:
    """Each vendor's rows (model `VENDOR_TOTAL_MODEL`) added up from every stored node's
    contribution, into a table that has none yet (migration 0004 fills them so)."""
    delta = AggregateDelta()
    for (text,) in connection.execute(select(nodes.c.contribution)):
        contribution = Contribution.from_json(text)
        vendors = vendor_parts(contribution)
        for dims in rollups(contribution.dims):
            for vendor, part in vendors.items():
                delta.add_model(dims, vendor, VENDOR_TOTAL_MODEL, part, +1)
    apply(connection, delta)


def rebuild_network(connection: Connection) -> None:
    """The network-storage rows added up afresh from every stored node's contribution, into empty
    tables (migration 0003 fills its new tables so)."""
    delta = AggregateDelta()
    for (text,) in connection.execute(select(nodes.c.contribution)):
        delta.add_network(Contribution.from_json(text), +1)
    network.apply(connection, delta.source_refs, delta.source_sizes)
