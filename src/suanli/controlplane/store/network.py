"""Network storage in the live aggregates: each source counted once per scope, kept incrementally.

A query must not deduplicate sources itself (that reads a row per source and place), so the
deduplicated bytes are kept per scope and set of statuses in `network_totals`; they change only
when a source starts or stops being mounted in a scope by nodes of some status, or when its size
changes. `network_source_refs` (mounts per scope and status) and `network_source_sizes` (mounts
per reported size) are what tell.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from suanli.controlplane.store.tables import (
    NETWORK_REF_COLUMNS,
    NODE_STATUSES,
    network_source_refs,
    network_source_sizes,
    network_sources,
    network_totals,
)

SCOPE_COLUMNS = ("level", "province", "datacenter", "rack", "vendor", "model")
Scope = tuple[int, str, str, str, str, str]
RefKey = tuple[Scope, str]
# Every non-empty set of statuses, as the bit mask `network_totals.statuses` keys rows by.
STATUS_MASKS = tuple(range(1, 1 << len(NODE_STATUSES)))


def statuses_mask(statuses: tuple[str, ...]) -> int:
    """The `network_totals.statuses` key of a set of statuses."""
    return sum(1 << NODE_STATUSES.index(status) for status in set(statuses))


def _present(counts: list[int] | tuple[int, ...]) -> int:
    """The statuses (as a mask) with at least one node mounting the source."""
    return sum(1 << i for i, count in enumerate(counts) if count > 0)


def apply(connection: Connection, refs: dict[RefKey, list[int]], sizes: dict[tuple[str, int], int]) -> None:
    """Apply changed mounts (per scope and status) and reported sizes, and the totals they move."""
    refs = {key: change for key, change in refs.items() if any(change)}
    sizes = {key: change for key, change in sizes.items() if change}
    if not refs and not sizes:
        return
    sources = sorted({source for _, source in refs} | {source for source, _ in sizes})
    old_size = _lock_sources(connection, sources)
    new_size = _update_sizes(connection, sizes, old_size)
    after = _upsert_refs(connection, refs)
    moved: dict[RefKey, tuple[tuple[int, ...], tuple[int, ...]]] = {
        key: (tuple(now - change for now, change in zip(after[key], refs[key])), after[key]) for key in refs
    }
    resized = [source for source in sources if old_size[source] != new_size[source]]
    if resized:
        # A new size moves every scope the source is seen in, not only those this change touches.
        for key, counts in _refs_of(connection, resized).items():
            moved.setdefault(key, (counts, counts))
    totals: dict[tuple[Scope, int], int] = defaultdict(int)
    for (scope, source), (before, now) in moved.items():
        was, is_ = _present(before), _present(now)
        if was == is_ and old_size[source] == new_size[source]:
            continue
        for mask in STATUS_MASKS:
            change = (new_size[source] if is_ & mask else 0) - (old_size[source] if was & mask else 0)
            if change:
                totals[(scope, mask)] += change
    _upsert_totals(connection, totals)


def _lock_sources(connection: Connection, sources: list[str]) -> dict[str, int]:
    """Each source's row, created at size 0 if new, locked (in sorted order, so concurrent
    writers on PostgreSQL never deadlock); its size before this change."""
    statement = _statements(connection.dialect.name)["lock"]
    rows = connection.execute(statement, [{"source": s, "size_bytes": 0} for s in sources]).all()
    return {source: int(size) for source, size in rows}


def _update_sizes(connection: Connection, sizes: dict[tuple[str, int], int], old_size: dict[str, int]) -> dict[str, int]:
    """Count the mounts per reported size; the new size of each source is the largest still mounted."""
    if not sizes:
        return dict(old_size)
    rows = [{"source": s, "size_bytes": size, "mounts": n} for (s, size), n in sorted(sizes.items())]
    connection.execute(_statements(connection.dialect.name)["sizes"], rows)
    new_size = dict(old_size)
    # Mounts only added, or removed below the largest size, leave the largest known without a
    # read: the common case of a node enrolling or leaving a source others still report.
    unknown = set()
    for (source, size), change in sizes.items():
        if change > 0:
            new_size[source] = max(new_size[source], size)
        elif size >= old_size[source]:
            unknown.add(source)
    if unknown:
        largest = select(network_source_sizes.c.source, func.max(network_source_sizes.c.size_bytes)).where(
            network_source_sizes.c.source.in_(sorted(unknown)), network_source_sizes.c.mounts > 0
        ).group_by(network_source_sizes.c.source)
        new_size.update(dict.fromkeys(unknown, 0))
        new_size.update({source: int(size) for source, size in connection.execute(largest).all()})
    changed = sorted({source for source, _ in sizes})
    resized = [{"s": s, "size": new_size[s]} for s in changed if new_size[s] != old_size[s]]
    if resized:
        statement = update(network_sources).where(network_sources.c.source == bindparam("s")).values(
            size_bytes=bindparam("size")
        )
        connection.execute(statement, resized)
    return new_size


def _upsert_refs(connection: Connection, refs: dict[RefKey, list[int]]) -> dict[RefKey, tuple[int, ...]]:
    """Add the changes; the counts after them, per key."""
    rows = [
        {**dict(zip(SCOPE_COLUMNS, scope)), "source": source, **dict(zip(NETWORK_REF_COLUMNS, change))}
        for (scope, source), change in sorted(refs.items())
    ]
    if not rows:
        return {}
    return _by_key(connection.execute(_statements(connection.dialect.name)["refs"], rows))


def _refs_of(connection: Connection, sources: list[str]) -> dict[RefKey, tuple[int, ...]]:
    table = network_source_refs
    statement = select(*[table.c[c] for c in (*SCOPE_COLUMNS, "source", *NETWORK_REF_COLUMNS)]).where(
        table.c.source.in_(sources)
    )
    return _by_key(connection.execute(statement))


def _by_key(rows: Any) -> dict[RefKey, tuple[int, ...]]:
    """Rows of scope columns, source and counts, keyed like `AggregateDelta.source_refs`."""
    return {(tuple(row[:6]), row[6]): tuple(int(n) for n in row[7:]) for row in rows}  # type: ignore[misc]


def _upsert_totals(connection: Connection, totals: dict[tuple[Scope, int], int]) -> None:
    rows = [
        {**dict(zip(SCOPE_COLUMNS, scope)), "statuses": mask, "network_bytes": change}
        for (scope, mask), change in sorted(totals.items())
        if change
    ]
    if rows:
        connection.execute(_statements(connection.dialect.name)["totals"], rows)


@functools.lru_cache(maxsize=4)
def _statements(dialect_name: str) -> dict[str, Any]:
    """The upserts, built once per dialect (like the sums' upserts in aggregates)."""
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert
    lock = insert(network_sources)
    # A no-op update still locks the row on PostgreSQL, and RETURNING gives its size before us.
    lock = lock.on_conflict_do_update(
        index_elements=["source"], set_={"size_bytes": network_sources.c.size_bytes}
    ).returning(network_sources.c.source, network_sources.c.size_bytes)
    sizes = insert(network_source_sizes)
    sizes = sizes.on_conflict_do_update(
        index_elements=["source", "size_bytes"],
        set_={"mounts": network_source_sizes.c.mounts + sizes.excluded.mounts},
    )
    refs = insert(network_source_refs)
    refs = refs.on_conflict_do_update(
        index_elements=[*SCOPE_COLUMNS, "source"],
        set_={name: network_source_refs.c[name] + refs.excluded[name] for name in NETWORK_REF_COLUMNS},
    ).returning(*[network_source_refs.c[c] for c in (*SCOPE_COLUMNS, "source", *NETWORK_REF_COLUMNS)])
    totals = insert(network_totals)
    totals = totals.on_conflict_do_update(
        index_elements=[*SCOPE_COLUMNS, "statuses"],
        set_={"network_bytes": network_totals.c.network_bytes + totals.excluded.network_bytes},
    )
    return {"lock": lock, "sizes": sizes, "refs": refs, "totals": totals}
