"""National totals over the puller's state: duplicates across sources found, counted once, summed per province."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from suanli.national.state import COUNTS, PullState
from suanli.schema.national import PRECISIONS, Capacity, Flops


@dataclass(frozen=True)
class Duplicate:
    """A hardware hash certified under more than one source: counted under `kept_source` only."""

    hardware_hash: str
    sources: list[str]
    nodes: list[str]
    kept_source: str


@dataclass
class Tally:
    by_province: dict[str, Capacity] = field(default_factory=dict)
    nodes_by_province: dict[str, int] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    excluded_certificates: int = 0


def find_duplicates(state: PullState, source_order: list[str]) -> list[Duplicate]:
    """Hashes claimed under two or more sources; the source listed first keeps the hardware.

    Only the candidates the state noted at write time are looked up (by index), not every stored hash;
    candidates no longer held under two sources are forgotten.
    """
    rank = {url: index for index, url in enumerate(source_order)}
    claims: dict[bytes, list[tuple[str, str]]] = defaultdict(list)
    candidates = state.duplicate_candidates()
    for hardware_hash in candidates:
        rows = state.connection.execute(
            "SELECT c.source, c.node_id FROM certificate_hardware h JOIN certificates c ON c.cid = h.cid "
            "WHERE h.hardware_hash = ?", (hardware_hash,),
        )
        claims[hardware_hash] = rows.fetchall()
    gone = [h for h, holders in claims.items() if len({s for s, _ in holders}) < 2]
    if gone:
        state.forget_candidates(gone)
    duplicates = []
    for hardware_hash in sorted(set(claims) - set(gone)):
        holders = claims[hardware_hash]
        sources = sorted({s for s, _ in holders}, key=lambda s: (rank.get(s, len(rank)), s))
        duplicates.append(Duplicate(hardware_hash.hex(), sources, sorted({n for _, n in holders}), sources[0]))
    return duplicates


def _exclude(state: PullState, duplicates: list[Duplicate]) -> int:
    """Mark, in a temporary table, certificates that lose a duplicate to an earlier source."""
    state.connection.execute("CREATE TEMP TABLE IF NOT EXISTS excluded (cid INTEGER PRIMARY KEY)")
    state.connection.execute("DELETE FROM excluded")
    for duplicate in duplicates:
        state.connection.execute(
            "INSERT OR IGNORE INTO excluded SELECT h.cid FROM certificate_hardware h JOIN certificates c "
            "ON c.cid = h.cid WHERE h.hardware_hash = ? AND c.source != ?",
            (bytes.fromhex(duplicate.hardware_hash), duplicate.kept_source),
        )
    return state.connection.execute("SELECT count(*) FROM excluded").fetchone()[0]


_LIVE = "c.expires_s > :now AND c.cid NOT IN (SELECT cid FROM excluded)"


def _child_sums(state: PullState, query: str, now_s: float) -> dict[str, dict[str, int]]:
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    for province, key, value in state.connection.execute(query, {"now": now_s}):
        sums[province][key] = value
    return sums


def tally(state: PullState, source_order: list[str], now_s: float) -> Tally:
    """Certified capacity per province from unexpired, non-duplicate certificates of every source."""
    result = Tally(duplicates=find_duplicates(state, source_order))
    result.excluded_certificates = _exclude(state, result.duplicates)
    columns = [f"sum(c.{name})" for name in COUNTS] + [f"sum(c.flops_{p})" for p in PRECISIONS]
    rows = state.connection.execute(
        f"SELECT c.province, count(*), {', '.join(columns)} FROM certificates c WHERE {_LIVE} GROUP BY c.province",
        {"now": now_s},
    ).fetchall()
    accelerators = _child_sums(
        state,
        f"SELECT c.province, a.model, sum(a.count) FROM certificate_accelerators a JOIN certificates c "
        f"ON c.cid = a.cid WHERE {_LIVE} GROUP BY c.province, a.model",
        now_s,
    )
    storage = _child_sums(
        state,
        f"SELECT c.province, s.storage_key, max(s.size_bytes) FROM certificate_storage s JOIN certificates c "
        f"ON c.cid = s.cid WHERE {_LIVE} GROUP BY c.province, s.storage_key",
        now_s,
    )
    for province, nodes, *values in rows:
        counts: dict[str, Any] = dict(zip(COUNTS, values[: len(COUNTS)]))
        flops = Flops(**dict(zip(PRECISIONS, values[len(COUNTS) :])))
        result.by_province[province] = Capacity(
            **counts,
            flops=flops,
            accelerators=dict(sorted(accelerators.get(province, {}).items())),
            network_storage=dict(sorted(storage.get(province, {}).items())),
        )
        result.nodes_by_province[province] = nodes
    return result
