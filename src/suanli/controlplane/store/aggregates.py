"""Live aggregates kept incrementally: a node's change is applied as (new − old) in its own transaction.

`apply` is synchronous (the ingest writer calls it in its database thread); async callers use
`await connection.run_sync(apply, delta)`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from suanli.controlplane.contribution import Contribution, Dims
from suanli.controlplane.store.tables import (
    LEVEL_DATACENTER,
    LEVEL_PROVINCE,
    LEVEL_RACK,
    TOTALS_VALUE_COLUMNS,
    capacity_totals,
    model_totals,
    network_source_refs,
)

_DIM_NAMES = ("level", "province", "datacenter", "rack", "status")
LevelDims = tuple[int, str, str, str, str]
# Network sources are also kept once per node whatever its accelerators (vendor '*' is no vendor),
# so a query by place deduplicates a few rows per source instead of one per model.
ALL_MODELS = ("*", "*")


def rollups(dims: Dims) -> list[LevelDims]:
    """The rack row of a node's place and the data-center and province rows that add it up."""
    province, datacenter, rack, status = dims
    return [
        (LEVEL_RACK, province, datacenter, rack, status),
        (LEVEL_DATACENTER, province, datacenter, "", status),
        (LEVEL_PROVINCE, province, "", "", status),
    ]


@dataclass
class AggregateDelta:
    """Summed changes to the three aggregate tables, gathered over a whole transaction."""

    capacity: dict[LevelDims, dict[str, float]] = field(default_factory=dict)
    models: dict[tuple[LevelDims, str, str], tuple[bool, dict[str, float]]] = field(default_factory=dict)
    sources: dict[tuple[LevelDims, str, str, str], list[int]] = field(default_factory=dict)

    def add(self, contribution: Contribution | None, sign: int) -> None:
        """Add (+1) or subtract (−1) one node's contribution, at every level."""
        if contribution is None:
            return
        for dims in rollups(contribution.dims):
            _accumulate(self.capacity.setdefault(dims, {}), contribution.node, sign)
            for (vendor, model), part in contribution.models.items():
                known, values = self.models.setdefault((dims, vendor, model), (part.known, {}))
                _accumulate(values, part.values, sign)
            for vendor, model in [*contribution.models, ALL_MODELS]:
                for source, size_bytes in contribution.sources.items():
                    entry = self.sources.setdefault((dims, vendor, model, source), [0, 0])
                    entry[0] += sign
                    if sign > 0:
                        entry[1] = max(entry[1], size_bytes)

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
    connection.execute(_upsert_sums_statement(connection.dialect.name, table, tuple(keys)), rows)


@functools.lru_cache(maxsize=16)
def _upsert_sums_statement(dialect_name: str, table: Table, keys: tuple[str, ...]) -> Any:
    """Built once per table: building the expression and its cache key each group cost more
    than the upsert itself on the writer thread."""
    statement = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    summed = {name: table.c[name] + statement.excluded[name] for name in TOTALS_VALUE_COLUMNS}
    return statement.on_conflict_do_update(index_elements=list(keys), set_=summed)


def _nonzero(values: dict[str, float]) -> bool:
    return any(values.values())


def apply(connection: Connection, delta: AggregateDelta) -> None:
    """Write the summed delta: one upsert statement per aggregate table."""
    capacity_rows = [_row(d, v) for d, v in delta.capacity.items() if _nonzero(v)]
    _upsert_sums(connection, capacity_totals, list(_DIM_NAMES), capacity_rows)
    model_rows = [
        {**_row(d, v), "vendor": vendor, "model": model, "known": known}
        for (d, vendor, model), (known, v) in delta.models.items()
        if _nonzero(v)
    ]
    _upsert_sums(connection, model_totals, [*_DIM_NAMES, "vendor", "model"], model_rows)
    _apply_sources(connection, delta.sources.items())


def _apply_sources(
    connection: Connection, changes: Iterable[tuple[tuple[LevelDims, str, str, str], list[int]]]
) -> None:
    rows = [
        {**dict(zip(_DIM_NAMES, d)), "vendor": v, "model": m, "source": s, "ref_count": ref, "size_bytes": size}
        for (d, v, m, s), (ref, size) in changes
        if ref != 0
    ]
    if not rows:
        return
    rows.sort(key=lambda row: tuple(row[k] for k in _SOURCE_KEYS))
    connection.execute(_sources_statement(connection.dialect.name), rows)


_SOURCE_KEYS = (*_DIM_NAMES, "vendor", "model", "source")


@functools.lru_cache(maxsize=4)
def _sources_statement(dialect_name: str) -> Any:
    """Built once per dialect, like the sums' upserts."""
    from sqlalchemy import func

    table = network_source_refs
    statement = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    greatest = func.greatest if dialect_name == "postgresql" else func.max
    return statement.on_conflict_do_update(
        index_elements=list(_SOURCE_KEYS),
        set_={
            "ref_count": table.c.ref_count + statement.excluded.ref_count,
            # The size a source was last reported with by a node that (re)joined it.
            "size_bytes": greatest(table.c.size_bytes, statement.excluded.size_bytes),
        },
    )
