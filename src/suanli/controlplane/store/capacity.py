"""Capacity queries over the live aggregate tables: cost grows with groups, not with nodes.

`read_capacity` is synchronous, run in one hop by `SyncTransactions.read` (see db.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.store.network import statuses_mask
from suanli.controlplane.store.tables import (
    ALL,
    FLOPS_PRECISIONS,
    LEVEL_ALL,
    LEVEL_DATACENTER,
    LEVEL_PROVINCE,
    LEVEL_RACK,
    NETWORK_REF_COLUMNS,
    NODE_STATUSES,
    TOTALS_VALUE_COLUMNS,
    capacity_totals,
    datacenters,
    model_totals,
    network_source_refs,
    network_sources,
    network_totals,
    racks,
)
from suanli.schema.capacity import (
    STANDARD_RACK_KW,
    AcceleratorModelCount,
    CapacityFigures,
    CapacityGroup,
)

# Which aggregate columns define a group; a rack is only unique within its data center.
GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "province": ("province",),
    "datacenter": ("province", "datacenter"),
    "rack": ("province", "datacenter", "rack"),
    "accelerator_model": ("vendor", "model"),
    "vendor": ("vendor",),
}
DEFAULT_STATUSES = tuple(s for s in NODE_STATUSES if s != "revoked")
_FIGURE_COUNTS = [c for c in TOTALS_VALUE_COLUMNS if not c.startswith("flops_") and c != "accelerators"]


@dataclass(frozen=True)
class CapacityQuery:
    by: str = "province"
    province: str | None = None
    datacenter: str | None = None
    rack: str | None = None
    accelerator_model: str | None = None
    vendor: str | None = None
    statuses: tuple[str, ...] = DEFAULT_STATUSES

    @property
    def level(self) -> int:
        """The coarsest aggregate rows that answer this query (fewest rows to add up)."""
        if self.by == "rack" or self.rack is not None:
            return LEVEL_RACK
        if self.by == "datacenter" or self.datacenter is not None:
            return LEVEL_DATACENTER
        return LEVEL_PROVINCE

    @property
    def by_accelerator(self) -> bool:
        """Grouping or filtering by accelerator reads the per-model aggregates."""
        return self.by in ("accelerator_model", "vendor") or bool(self.accelerator_model or self.vendor)


@dataclass
class _Group:
    values: dict[str, float] = field(default_factory=lambda: defaultdict(int))
    models: dict[tuple[str, str, bool], list[int]] = field(default_factory=dict)
    network_bytes: int = 0
    rated_kw: float | None = None


def _filtered(statement: Select, table: Table, query: CapacityQuery) -> Select:
    statement = statement.where(table.c.level == query.level)
    for name in ("province", "datacenter", "rack", "vendor"):
        value = getattr(query, name)
        if value is not None:
            statement = statement.where(table.c[name] == value)
    if query.accelerator_model is not None:
        statement = statement.where(table.c.model == query.accelerator_model)
    return statement.where(table.c.status.in_(query.statuses))


def _number(column: str, value: Any) -> float:
    """Exact ints for counts and bytes (PostgreSQL sums them as numeric), floats for FLOPS."""
    if value is None:
        return 0
    return float(value) if column.startswith("flops_") else int(value)


def _group_sums(connection: Connection, query: CapacityQuery, groups: dict[tuple, _Group]) -> None:
    table = model_totals if query.by_accelerator else capacity_totals
    keys = [table.c[k] for k in GROUP_KEYS[query.by]]
    sums = [func.sum(table.c[c]).label(c) for c in TOTALS_VALUE_COLUMNS]
    statement = _filtered(select(*keys, *sums), table, query).group_by(*keys)
    for row in (connection.execute(statement)).mappings():
        key = tuple(row[k] for k in GROUP_KEYS[query.by])
        if not row["nodes"]:
            continue  # only nodes that left this group once contributed here
        group = groups.setdefault(key, _Group())
        for column in TOTALS_VALUE_COLUMNS:
            group.values[column] += _number(column, row[column])


def _model_counts(connection: Connection, query: CapacityQuery, groups: dict[tuple, _Group]) -> None:
    table = model_totals
    keys = [table.c[k] for k in GROUP_KEYS[query.by]]
    statement = _filtered(
        select(*keys, table.c.vendor.label("m_vendor"), table.c.model.label("m_model"), table.c.known,
               func.sum(table.c.accelerators).label("total"),
               func.sum(table.c.accelerators_in_use).label("in_use")),
        table, query,
    ).where(table.c.model != "").group_by(*keys, table.c.vendor, table.c.model, table.c.known)
    for row in (connection.execute(statement)).mappings():
        key = tuple(row[k] for k in GROUP_KEYS[query.by])
        if key in groups and row["total"]:
            model = (row["m_vendor"], row["m_model"], bool(row["known"]))
            groups[key].models[model] = [int(row["total"]), int(row["in_use"] or 0)]


def _network_scope(table: Table, query: CapacityQuery, level: int, grouping: bool) -> list[Any]:
    """Conditions picking the network scope rows of each group (grouping) or of the total: the
    level, the place filters, and the accelerator key that the grouping and filters name."""
    conditions = [table.c.level == level]
    conditions += [table.c[n] == getattr(query, n) for n in ("province", "datacenter", "rack") if getattr(query, n)]
    by = query.by if grouping else None
    if query.accelerator_model is not None:
        conditions.append(table.c.model == query.accelerator_model)
    else:
        conditions.append(table.c.model != ALL if by == "accelerator_model" else table.c.model == ALL)
    if query.vendor is not None:
        conditions.append(table.c.vendor == query.vendor)
    elif by in ("accelerator_model", "vendor") or query.accelerator_model is not None:
        conditions.append(table.c.vendor != ALL)
    else:
        conditions.append(table.c.vendor == ALL)
    return conditions


def _total_level(query: CapacityQuery) -> int | None:
    """The level of the one scope holding every node the filters keep (None: a rack name alone
    may be in several data centers)."""
    if query.rack is not None:
        return LEVEL_RACK if query.datacenter is not None else None
    if query.datacenter is not None:
        return LEVEL_DATACENTER
    return LEVEL_PROVINCE if query.province is not None else LEVEL_ALL


def _network_bytes(connection: Connection, query: CapacityQuery, groups: dict[tuple, _Group]) -> int:
    """Network storage per group and in total, each source counted once: read from the kept
    per-scope totals when each group and the total is one scope, else deduplicated here."""
    table = network_totals
    names = GROUP_KEYS[query.by]
    level = _total_level(query)
    # Groups by accelerator span every place the filters keep: the total's level.
    group_level = level if query.by in ("accelerator_model", "vendor") else query.level
    if level is not None and group_level is not None:
        kept = [table.c.statuses == statuses_mask(query.statuses), table.c.network_bytes != 0]
        per_group = select(*[table.c[k] for k in names], table.c.network_bytes).where(
            *kept, *_network_scope(table, query, group_level, True)
        )
        rows = connection.execute(per_group).all()
        totals = connection.execute(
            select(table.c.network_bytes).where(*kept, *_network_scope(table, query, level, False))
        ).all()
        keys = {tuple(row[:-1]) for row in rows}
        if len(keys) == len(rows) and len(totals) <= 1:
            for row in rows:
                if tuple(row[:-1]) in groups:
                    groups[tuple(row[:-1])].network_bytes = int(row[-1])
            return int(totals[0][0]) if totals else 0
    return _network_bytes_deduplicated(connection, query, groups)


def _network_bytes_deduplicated(connection: Connection, query: CapacityQuery, groups: dict[tuple, _Group]) -> int:
    """The rarer shapes whose groups span several scopes (a rack name without its data center, a
    model name under two vendors): the sources each group's scopes see, deduplicated per query."""
    table = network_source_refs
    names = GROUP_KEYS[query.by]
    seen = [table.c[NETWORK_REF_COLUMNS[NODE_STATUSES.index(s)]] > 0 for s in query.statuses]
    statement = (
        select(*[table.c[k] for k in names], table.c.source, network_sources.c.size_bytes)
        .join(network_sources, network_sources.c.source == table.c.source)
        .where(*_network_scope(table, query, query.level, True), or_(*seen))
    )
    per_group: dict[tuple, dict[str, int]] = defaultdict(dict)
    every: dict[str, int] = {}
    for *key, source, size in connection.execute(statement).all():
        per_group[tuple(key)][source] = every[source] = int(size)
    for key, sources in per_group.items():
        if key in groups:
            groups[key].network_bytes = sum(sources.values())
    return sum(every.values())


def _rated_power(connection: Connection, query: CapacityQuery, groups: dict[tuple, _Group]) -> float | None:
    """Rated kW of registered racks per place group; None when grouping by accelerator."""
    if query.by_accelerator:
        return None
    columns = {"province": datacenters.c.province_code, "datacenter": datacenters.c.name, "rack": racks.c.name}
    keys = [columns[k] for k in GROUP_KEYS[query.by]]
    statement = select(*keys, func.sum(racks.c.rated_kw)).join(datacenters).group_by(*keys)
    for name, column in columns.items():
        if getattr(query, name) is not None:
            statement = statement.where(column == getattr(query, name))
    total_kw = 0.0
    for group in groups.values():
        group.rated_kw = 0.0  # a place with no registered racks has no rated power
    for *key, kw in (connection.execute(statement)).all():
        total_kw += float(kw or 0.0)
        groups.setdefault(tuple(key), _Group()).rated_kw = float(kw or 0.0)
    return total_kw


@lru_cache(maxsize=256)
def _precisions_without_flops(vendor: str, model: str) -> tuple[str, ...]:
    """Precisions the catalog entry named `model` gives no figure for (none for models it lacks)."""
    from suanli.catalog import accelerator_specs

    spec = next((s for s in accelerator_specs() if (s.vendor, s.model) == (vendor, model)), None)
    if spec is None:
        return ()
    return tuple(p for p in FLOPS_PRECISIONS if spec.peak_flops.get(p) is None)


def _without_flops(models: dict[tuple[str, str, bool], list[int]]) -> dict[str, int]:
    """Per precision, the counted devices of catalogued models whose datasheet leaves it null."""
    counts = dict.fromkeys(FLOPS_PRECISIONS, 0)
    for (vendor, model, known), (total, _) in models.items():
        for precision in _precisions_without_flops(vendor, model) if known else ():
            counts[precision] += total
    return counts


def _figures(group: _Group, cls: type[CapacityFigures], **keys: Any) -> CapacityFigures:
    values = group.values
    network_bytes = group.network_bytes
    # model_construct: these figures are ours, already typed; validating thousands of fields per
    # answer cost more than the SQL behind them.
    models = [
        AcceleratorModelCount.model_construct(vendor=v, model=m, known=k, total=t, in_use=u)
        for (v, m, k), (t, u) in sorted(group.models.items())
    ]
    return cls.model_construct(
        **keys,
        **{c: int(values.get(c, 0)) for c in _FIGURE_COUNTS},
        accelerators_total=int(values.get("accelerators", 0)),
        accelerators=models,
        unknown_accelerator_models=sorted({m.model for m in models if not m.known}),
        flops={p: float(values.get(f"flops_{p}", 0.0)) for p in FLOPS_PRECISIONS},
        accelerators_without_flops=_without_flops(group.models),
        storage_network_bytes=network_bytes,
        storage_bytes=int(values.get("storage_local_bytes", 0)) + network_bytes,
        rated_kw=group.rated_kw,
        standard_racks=None if group.rated_kw is None else group.rated_kw / STANDARD_RACK_KW,
    )


def _total(groups: dict[tuple, _Group], rated_kw: float | None, network_bytes: int) -> _Group:
    total = _Group(rated_kw=rated_kw, network_bytes=network_bytes)
    for group in groups.values():
        for column, value in group.values.items():
            total.values[column] += value
        for model, (count, in_use) in group.models.items():
            entry = total.models.setdefault(model, [0, 0])
            entry[0] += count
            entry[1] += in_use
    return total


def _group_keys(by: str, key: tuple) -> dict[str, Any]:
    names = ["accelerator_model" if k == "model" else k for k in GROUP_KEYS[by]]
    return {name: (value or None) for name, value in zip(names, key)}


def read_capacity(connection: Connection, query: CapacityQuery) -> tuple[list[CapacityGroup], CapacityFigures]:
    """Groups (sorted by key) and the scope's total, read on one connection (one snapshot on
    PostgreSQL's default isolation per statement; SQLite reads one WAL snapshot per transaction)."""
    groups: dict[tuple, _Group] = {}
    _group_sums(connection, query, groups)
    _model_counts(connection, query, groups)
    network_bytes = _network_bytes(connection, query, groups)
    rated_kw = _rated_power(connection, query, groups)
    result = [
        _figures(group, CapacityGroup, **_group_keys(query.by, key))
        for key, group in sorted(groups.items(), key=lambda item: tuple(str(k) for k in item[0]))
    ]
    return result, _figures(_total(groups, rated_kw, network_bytes), CapacityFigures)  # type: ignore[return-value]


async def query_capacity(engine: AsyncEngine, query: CapacityQuery) -> tuple[list[CapacityGroup], CapacityFigures]:
    """`read_capacity` on a connection of `engine` (the API takes the faster one-hop path)."""
    async with engine.connect() as connection:
        return await connection.run_sync(read_capacity, query)
