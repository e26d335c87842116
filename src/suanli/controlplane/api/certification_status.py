"""`GET /v1/certification`: every node's certification state and failing checks, problems first."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from suanli.controlplane.api.access import require_role
from suanli.controlplane.api.nodes import MAX_PAGE, decode_cursor, encode_cursor
from suanli.controlplane.api.parsing import model_response
from suanli.controlplane.appkeys import CONFIG, ENGINE
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store.capacity import DEFAULT_STATUSES
from suanli.controlplane.store.certification_status import (
    STATES,
    CertificationFilter,
    Position,
    count_certification,
    failures_of,
    list_certification,
)
from suanli.controlplane.store.tables import NODE_STATUSES
from suanli.schema import utc_now
from suanli.schema.certification import CertificationCounts, CertificationList, NodeCertification

_PARAMETERS = {"province", "datacenter", "state", "status", "limit", "cursor"}
DEFAULT_PAGE = 100


def _limit(params: Any) -> int:
    raw = params.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ApiError("invalid_query", detail={"limit": raw, "range": [1, MAX_PAGE]})
    return int(raw)


def stale_after_s(request: web.Request) -> float:
    """A node is stale once silent longer than the certification's `heard_recently` check allows."""
    settings = request.app[CONFIG].certification
    return settings.usage_interval_s * settings.heard_within_intervals


def _filter(params: Any) -> CertificationFilter:
    unknown = sorted(set(params) - _PARAMETERS)
    if unknown:
        raise ApiError("invalid_query", detail={"unknown_parameters": unknown})
    state = params.get("state") or None
    if state is not None and state not in STATES:
        raise ApiError("invalid_query", detail={"state": state, "allowed": list(STATES)})
    statuses = tuple(s for s in params.get("status", "").split(",") if s) or DEFAULT_STATUSES
    if set(statuses) - set(NODE_STATUSES):
        raise ApiError("invalid_query", detail={"status": list(statuses), "allowed": list(NODE_STATUSES)})
    return CertificationFilter(statuses, params.get("province") or None, params.get("datacenter") or None, state)


def _position(cursor: str) -> Position:
    as_of = decode_cursor(cursor, "as_of", str)
    try:
        return Position(datetime.fromisoformat(as_of), decode_cursor(cursor, "rank", int),
                        decode_cursor(cursor, "after", str))
    except ValueError:
        raise ApiError("invalid_cursor") from None


def _node(row: Any, stale_before: datetime) -> NodeCertification:
    state = "unevaluated" if row.certified is None else ("certified" if row.certified else "uncertified")
    return NodeCertification(
        node_id=row.id, hostname=row.hostname, status=row.status, status_reason=row.status_reason,
        province=row.province_code, datacenter=row.dc, rack=row.rack or None, last_seen_at=row.last_seen_at,
        stale=row.last_seen_at < stale_before, state=state, failures=failures_of(row),
        evaluated_at=row.evaluated_at,
    )


async def get_certification(request: web.Request) -> web.Response:
    await require_role(request)
    where = _filter(request.query)
    limit = _limit(request.query)
    after = _position(request.query["cursor"]) if "cursor" in request.query else None
    as_of = after.as_of if after is not None else utc_now()
    stale_s = stale_after_s(request)
    stale_before = as_of - timedelta(seconds=stale_s)
    engine = request.app[ENGINE]
    rows = await list_certification(engine, where, stale_before, after, limit + 1)
    counts = await count_certification(engine, where, stale_before)
    page = [_node(row, stale_before) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({"as_of": as_of.isoformat(), "rank": int(last.rank), "after": last.id})
    return model_response(CertificationList(
        as_of=as_of, stale_after_s=stale_s, counts=CertificationCounts(**counts), nodes=page, next_cursor=next_cursor,
    ))
