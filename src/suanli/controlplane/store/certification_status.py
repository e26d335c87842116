"""Certification verdicts beside node facts, problems first: the read behind `GET /v1/certification`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.certification.tables import certification_status as verdicts
from suanli.controlplane.store.tables import datacenters, nodes

STATES = ("certified", "uncertified", "unevaluated")


@dataclass(frozen=True)
class CertificationFilter:
    statuses: tuple[str, ...]
    province: str | None = None
    datacenter: str | None = None
    state: str | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ends: ranks depend on `as_of`, so every page of one listing uses the same one."""

    as_of: datetime
    rank: int
    node_id: str


def attention_rank(stale_before: datetime) -> Any:
    """0 quarantined, 1 stale, 2 uncertified, 3 never evaluated, 4 certified."""
    return case(
        (nodes.c.status == "quarantined", 0),
        (nodes.c.last_seen_at < stale_before, 1),
        (verdicts.c.certified == false(), 2),
        (verdicts.c.certified.is_(None), 3),
        else_=4,
    )


def _scope(statement: Any, where: CertificationFilter) -> Any:
    statement = statement.select_from(
        nodes.join(datacenters, datacenters.c.id == nodes.c.datacenter_id).outerjoin(
            verdicts, verdicts.c.node_id == nodes.c.id)
    ).where(nodes.c.status.in_(where.statuses))
    if where.province:
        statement = statement.where(nodes.c.province_code == where.province)
    if where.datacenter:
        statement = statement.where(datacenters.c.name == where.datacenter)
    return statement


def _state_condition(state: str) -> Any:
    if state == "certified":
        return verdicts.c.certified == true()
    if state == "uncertified":
        return verdicts.c.certified == false()
    return verdicts.c.node_id.is_(None)


async def list_certification(
    engine: AsyncEngine, where: CertificationFilter, stale_before: datetime, after: Position | None, limit: int
) -> list[Any]:
    """Rows (with `rank`) in attention order after `after`; at most `limit`."""
    rank = attention_rank(stale_before).label("rank")
    statement = _scope(select(
        nodes.c.id, nodes.c.hostname, nodes.c.status, nodes.c.status_reason, nodes.c.province_code,
        datacenters.c.name.label("dc"), nodes.c.rack, nodes.c.last_seen_at, verdicts.c.certified,
        verdicts.c.failures, verdicts.c.evaluated_at, rank,
    ), where)
    if where.state:
        statement = statement.where(_state_condition(where.state))
    if after is not None:
        expression = attention_rank(stale_before)
        statement = statement.where(or_(expression > after.rank, and_(expression == after.rank, nodes.c.id > after.node_id)))
    statement = statement.order_by(rank, nodes.c.id).limit(limit)
    async with engine.connect() as connection:
        return list((await connection.execute(statement)).all())


async def count_certification(engine: AsyncEngine, where: CertificationFilter, stale_before: datetime) -> dict[str, int]:
    """How many nodes of the scope are in each state, stale, and quarantined (the state filter aside)."""

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    statement = _scope(select(
        *(count(_state_condition(state)).label(state) for state in STATES),
        count(nodes.c.last_seen_at < stale_before).label("stale"),
        count(nodes.c.status == "quarantined").label("quarantined"),
    ), where)
    async with engine.connect() as connection:
        row = (await connection.execute(statement)).mappings().one()
    return {name: int(value) for name, value in row.items()}


def failures_of(row: Any) -> dict[str, str]:
    return json.loads(row.failures) if row.failures else {}


async def certification_by_datacenter(engine: AsyncEngine, statuses: tuple[str, ...]) -> list[tuple[str, str, str, int]]:
    """(province, data center, state, nodes) for every non-empty combination."""
    state = case((verdicts.c.certified == true(), "certified"), (verdicts.c.certified == false(), "uncertified"),
                 else_="unevaluated").label("state")
    statement = _scope(select(nodes.c.province_code, datacenters.c.name, state, func.count()),
                       CertificationFilter(statuses)).group_by(nodes.c.province_code, datacenters.c.name, state)
    async with engine.connect() as connection:
        return [(p, dc, s, int(n)) for p, dc, s, n in (await connection.execute(statement)).all()]
