"""Capacity queries over the live aggregate tables: cost grows with groups, not with nodes.

`read_capacity` is synchronous, run in one hop by `SyncTransactions.read` (see db.py).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Connection,
    Float,
    Select,
    Table,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.contribution import VENDOR_TOTAL_MODEL
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
T = TypeVar("T")
FILTER_NAMES = ("province", "datacenter", "rack", "accelerator_model", "vendor")


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

    @property
    def total_level(self) -> int | None:
        """The level of the one network scope holding every node the filters keep (None: a rack
        name without its data center may name racks of several data centers)."""
        if self.rack is not None:
            return LEVEL_RACK if self.datacenter is not None else None
        if self.datacenter is not None:
            return LEVEL_DATACENTER
        return LEVEL_PROVINCE if self.province is not None else LEVEL_ALL

    def shape(self) -> _Shape:
        return _Shape(self.by, frozenset(f for f in FILTER_NAMES if getattr(self, f) is not None), self.level,
                      self.by_accelerator, self.total_level)

    def parameters(self) -> dict[str, Any]:
        """The values the statements of `shape()` bind."""
        values: dict[str, Any] = {f: getattr(self, f) for f in FILTER_NAMES if getattr(self, f) is not None}
        values.update(statuses=list(self.statuses), statuses_mask=statuses_mask(self.statuses))
        return values


@dataclass(frozen=True)
class _Shape:
    """What a query's statements depend on: the grouping and which filters are set, not their
    values (bound at execution), so each shape's statements are built and compiled once."""

    by: str
    filters: frozenset[str]
    level: int
    by_accelerator: bool
    total_level: int | None


@dataclass
class _Group:
    values: list[float] = field(default_factory=lambda: [0] * len(TOTALS_VALUE_COLUMNS))  # in that order
    models: dict[tuple[str, str, bool], list[int]] = field(default_factory=dict)
    network_bytes: int = 0
    rated_kw: float | None = None


def _filtered(statement: Select, table: Table, shape: _Shape) -> Select:
    statement = statement.where(table.c.level == shape.level)
    for name in ("province", "datacenter", "rack", "vendor"):
        if name in shape.filters:
            statement = statement.where(table.c[name] == bindparam(name))
    if "accelerator_model" in shape.filters:
        statement = statement.where(table.c.model == bindparam("accelerator_model"))
    return statement.where(table.c.status.in_(bindparam("statuses", expanding=True)))


def _sum(column: Any) -> Any:
    """SUM of a count or byte column as BIGINT, like the stored aggregate rows it adds up:
    PostgreSQL sums BIGINT as NUMERIC, which arrives as Decimal objects and cost ~8 µs a row to
    read and convert (the 100-group answers read ~1 000 such rows)."""
    if isinstance(column.type, Float):
        return func.sum(column)
    return cast(func.sum(column), BigInteger)


def _model_rows(shape: _Shape) -> Any:
    """Which `model_totals` rows a query adds up. Per vendor (grouped or filtered by vendor, no
    model named) it is each vendor's own row, where a node with two models of one vendor counts
    once; otherwise the per-model rows, nodes without accelerators included (vendor and model '')."""
    if shape.by != "accelerator_model" and "accelerator_model" not in shape.filters and (
        shape.by == "vendor" or "vendor" in shape.filters
    ):
        return model_totals.c.model == VENDOR_TOTAL_MODEL
    return or_(model_totals.c.model != VENDOR_TOTAL_MODEL, model_totals.c.vendor == "")


@lru_cache(maxsize=512)
def _statements(shape: _Shape) -> dict[str, Any]:
    """The statements answering queries of `shape`, built once."""
    keys = GROUP_KEYS[shape.by]
    table = model_totals if shape.by_accelerator else capacity_totals
    sums = _filtered(select(*[table.c[k] for k in keys], *[_sum(table.c[c]) for c in TOTALS_VALUE_COLUMNS]),
                     table, shape).group_by(*[table.c[k] for k in keys])
    if shape.by_accelerator:
        sums = sums.where(_model_rows(shape))
    models = _filtered(
        select(*[model_totals.c[k] for k in keys], model_totals.c.vendor, model_totals.c.model, model_totals.c.known,
               _sum(model_totals.c.accelerators), _sum(model_totals.c.accelerators_in_use)),
        model_totals, shape,
    ).where(model_totals.c.model != "").group_by(
        *[model_totals.c[k] for k in keys], model_totals.c.vendor, model_totals.c.model, model_totals.c.known
    )
    statements = {"sums": sums, "models": models, "network": _network_statement(shape)}
    if not shape.by_accelerator:
        statements["rated_kw"] = _rated_power_statement(shape)
    return statements


_CONVERTERS = [float if c.startswith("flops_") else int for c in TOTALS_VALUE_COLUMNS]
_AT = {column: index for index, column in enumerate(TOTALS_VALUE_COLUMNS)}
_NODES = _AT["nodes"]
_FLOPS_AT = [(precision, _AT[f"flops_{precision}"]) for precision in FLOPS_PRECISIONS]


def _group_sums(connection: Connection, statement: Select, width: int, parameters: dict, groups: dict) -> None:
    for row in connection.execute(statement, parameters):
        if not row[width + _NODES]:
            continue  # only nodes that left this group once contributed here
        groups[tuple(row[:width])] = _Group(values=[
            convert(value or 0) for convert, value in zip(_CONVERTERS, row[width:])
        ])


def _model_counts(connection: Connection, statement: Select, width: int, parameters: dict, groups: dict) -> None:
    for row in connection.execute(statement, parameters):
        group = groups.get(tuple(row[:width]))
        if group is not None and row[width + 3]:
            vendor, model, known, total, in_use = row[width:]
            group.models[(vendor, model, bool(known))] = [int(total), int(in_use or 0)]


def _network_scope(table: Table, shape: _Shape, level: int, grouping: bool) -> list[Any]:
    """Conditions picking the network scope rows of each group (grouping) or of the total: the
    level, the place filters, and the accelerator key that the grouping and filters name."""
    conditions = [table.c.level == level]
    conditions += [table.c[n] == bindparam(n) for n in ("province", "datacenter", "rack") if n in shape.filters]
    by = shape.by if grouping else None
    if "accelerator_model" in shape.filters:
        conditions.append(table.c.model == bindparam("accelerator_model"))
    else:
        conditions.append(table.c.model != ALL if by == "accelerator_model" else table.c.model == ALL)
    if "vendor" in shape.filters:
        conditions.append(table.c.vendor == bindparam("vendor"))
    elif by in ("accelerator_model", "vendor") or "accelerator_model" in shape.filters:
        conditions.append(table.c.vendor != ALL)
    else:
        conditions.append(table.c.vendor == ALL)
    return conditions


def _network_statement(shape: _Shape) -> Select | None:
    """One statement for the kept network bytes of every group (marked 0) and of the total
    (marked 1); None when some group or the total may span several scopes."""
    table = network_totals
    # Groups by accelerator span every place the filters keep: the total's level.
    group_level = shape.total_level if shape.by in ("accelerator_model", "vendor") else shape.level
    if shape.total_level is None or group_level is None:
        return None
    kept = [table.c.statuses == bindparam("statuses_mask"), table.c.network_bytes != 0]
    keys = GROUP_KEYS[shape.by]
    per_group = select(literal_column("0").label("part"), *[table.c[k] for k in keys], table.c.network_bytes).where(
        *kept, *_network_scope(table, shape, group_level, True)
    )
    total = select(literal_column("1"), *[literal_column("''") for _ in keys], table.c.network_bytes).where(
        *kept, *_network_scope(table, shape, shape.total_level, False)
    )
    return union_all(per_group, total)


def _network_bytes(connection: Connection, query: CapacityQuery, statements: dict, groups: dict) -> int:
    """Network storage per group and in total, each source counted once: read from the kept
    per-scope totals when each group and the total is one scope, else deduplicated here."""
    if statements["network"] is not None:
        rows = connection.execute(statements["network"], query.parameters()).all()
        per_group = {tuple(row[1:-1]): int(row[-1]) for row in rows if row[0] == 0}
        totals = [int(row[-1]) for row in rows if row[0] == 1]
        if len(per_group) + len(totals) == len(rows) and len(totals) <= 1:
            for key, size in per_group.items():
                if key in groups:
                    groups[key].network_bytes = size
            return totals[0] if totals else 0
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
        .where(*_network_scope(table, query.shape(), query.level, True), or_(*seen))
    )
    per_group: dict[tuple, dict[str, int]] = defaultdict(dict)
    every: dict[str, int] = {}
    for *key, source, size in connection.execute(statement, query.parameters()).all():
        per_group[tuple(key)][source] = every[source] = int(size)
    for key, sources in per_group.items():
        if key in groups:
            groups[key].network_bytes = sum(sources.values())
    return sum(every.values())


_PLACE_COLUMNS = {"province": datacenters.c.province_code, "datacenter": datacenters.c.name, "rack": racks.c.name}


def _rated_power_statement(shape: _Shape) -> Select:
    keys = [_PLACE_COLUMNS[k] for k in GROUP_KEYS[shape.by]]
    statement = select(*keys, func.sum(racks.c.rated_kw)).join(datacenters).group_by(*keys)
    for name, column in _PLACE_COLUMNS.items():
        if name in shape.filters:
            statement = statement.where(column == bindparam(name))
    return statement


# Racks change only by `suanli racks import`, an admin command no client of this process waits
# on, while joining the whole registry cost as much as the rest of a by=province answer.
RATED_KW_CACHE_S = 5.0
_rated_kw_cache: dict[tuple, tuple[float, list[tuple]]] = {}


def _rated_kw_rows(connection: Connection, statement: Select, query: CapacityQuery) -> list[tuple]:
    """Rated kW per place group, from the registry at most RATED_KW_CACHE_S seconds ago."""
    key = (str(connection.engine.url), query.by, query.province, query.datacenter, query.rack)
    now = time.monotonic()
    cached = _rated_kw_cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = [tuple(row) for row in connection.execute(statement, query.parameters())]
    if len(_rated_kw_cache) >= 1024:
        _rated_kw_cache.clear()  # bounded: old places and databases do not pile up
    _rated_kw_cache[key] = (now + RATED_KW_CACHE_S, rows)
    return rows


def _rated_power(connection: Connection, query: CapacityQuery, statements: dict, groups: dict) -> float | None:
    """Rated kW of registered racks per place group; None when grouping by accelerator."""
    if query.by_accelerator:
        return None
    total_kw = 0.0
    for group in groups.values():
        group.rated_kw = 0.0  # a place with no registered racks has no rated power
    for *key, kw in _rated_kw_rows(connection, statements["rated_kw"], query):
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


def _construct(cls: type[T], values: dict[str, Any]) -> T:
    """What `cls.model_construct(**values)` gives, for `values` naming every field in order:
    these figures are ours and already typed, and model_construct's per-field default handling
    over ~600 models of a 100-group answer was its largest cost after the SQL."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


_GROUP_KEY_FIELDS = ("province", "datacenter", "rack", "vendor", "accelerator_model")


def _figures(group: _Group, cls: type[CapacityFigures], keys: dict[str, Any] | None = None) -> CapacityFigures:
    values = group.values
    network_bytes = group.network_bytes
    models = [
        _construct(AcceleratorModelCount, {"vendor": v, "model": m, "known": k, "total": t, "in_use": u})
        for (v, m, k), (t, u) in sorted(group.models.items())
    ]
    local_bytes = int(values[_AT["storage_local_bytes"]])
    figures: dict[str, Any] = {
        "nodes": int(values[_AT["nodes"]]),
        "cpu_physical_cores": int(values[_AT["cpu_physical_cores"]]),
        "cpu_logical_cores": int(values[_AT["cpu_logical_cores"]]),
        "memory_bytes": int(values[_AT["memory_bytes"]]),
        "accelerators_total": int(values[_AT["accelerators"]]),
        "accelerators_in_use": int(values[_AT["accelerators_in_use"]]),
        "accelerators_unknown": int(values[_AT["accelerators_unknown"]]),
        "accelerators": models,
        "unknown_accelerator_models": sorted({m for (_, m, known) in group.models if not known}),
        "flops": {precision: float(values[at]) for precision, at in _FLOPS_AT},
        "accelerators_without_flops": _without_flops(group.models),
        "storage_local_bytes": local_bytes,
        "storage_network_bytes": network_bytes,
        "storage_bytes": local_bytes + network_bytes,
        "ports_400g": int(values[_AT["ports_400g"]]),
        "ports_200g": int(values[_AT["ports_200g"]]),
        "ports_100g": int(values[_AT["ports_100g"]]),
        "rated_kw": group.rated_kw,
        "standard_racks": None if group.rated_kw is None else group.rated_kw / STANDARD_RACK_KW,
    }
    if keys is not None:
        figures.update({name: keys.get(name) for name in _GROUP_KEY_FIELDS})
    return _construct(cls, figures)


def _total(groups: dict[tuple, _Group], rated_kw: float | None, network_bytes: int) -> _Group:
    total = _Group(rated_kw=rated_kw, network_bytes=network_bytes)
    if groups:
        total.values = [sum(column) for column in zip(*(group.values for group in groups.values()))]
    for group in groups.values():
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
    statements = _statements(query.shape())
    parameters = query.parameters()
    width = len(GROUP_KEYS[query.by])
    _group_sums(connection, statements["sums"], width, parameters, groups)
    _model_counts(connection, statements["models"], width, parameters, groups)
    network_bytes = _network_bytes(connection, query, statements, groups)
    rated_kw = _rated_power(connection, query, statements, groups)
    result = [
        _figures(group, CapacityGroup, _group_keys(query.by, key))
        for key, group in sorted(groups.items(), key=lambda item: tuple(str(k) for k in item[0]))
    ]
    return result, _figures(_total(groups, rated_kw, network_bytes), CapacityFigures)  # type: ignore[return-value]


async def query_capacity(engine: AsyncEngine, query: CapacityQuery) -> tuple[list[CapacityGroup], CapacityFigures]:
    """`read_capacity` on a connection of `engine` (the API takes the faster one-hop path)."""
    async with engine.connect() as connection:
        return await connection.run_sync(read_capacity, query)
