"""`GET /v1/nodes`, `/v1/nodes/{id}`, `/v1/nodes/{id}/usage`: node lists, detail and usage history."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from aiohttp import web

from suanli.controlplane.api.access import require_role
from suanli.controlplane.api.parsing import model_response
from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.clock import estimated_skew_s, skew_flagged
from suanli.controlplane.contribution import Contribution
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store.nodes import NodeFilter, get_node, list_nodes
from suanli.controlplane.store.usage import usage_points
from suanli.schema import Inventory, Usage
from suanli.schema.nodes import NodeDetail, NodeList, NodeSummary, UsageHistory, UsagePoint

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str, kind: type) -> Any:
    """The position inside a cursor this server issued; anything else is 400 `invalid_cursor`."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value = position[field]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ApiError("invalid_cursor") from None
    if not isinstance(value, kind):
        raise ApiError("invalid_cursor")
    return value


def _limit(params: Any) -> int:
    try:
        limit = int(params.get("limit", DEFAULT_PAGE))
    except ValueError:
        raise ApiError("invalid_query", detail={"limit": params.get("limit")}) from None
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError("invalid_query", detail={"limit": limit, "range": [1, MAX_PAGE]})
    return limit


def _summary_fields(row: Any) -> dict[str, Any]:
    return {
        "node_id": row.id, "status": row.status, "hostname": row.hostname, "province": row.province_code,
        "datacenter": row.dc, "room": row.room or None, "rack": row.rack or None,
        "accelerators": len(Contribution.from_json(row.contribution).accelerators),
        "enrolled_at": row.enrolled_at, "last_seen_at": row.last_seen_at, "last_seq": row.last_seq,
        "inventory_hash": row.inventory_hash,
    }


async def get_nodes(request: web.Request) -> web.Response:
    await require_role(request)
    params = request.query
    allowed = {"province", "datacenter", "rack", "status", "hostname", "limit", "cursor"}
    if set(params) - allowed:
        raise ApiError("invalid_query", detail={"unknown_parameters": sorted(set(params) - allowed)})
    limit = _limit(params)
    after = decode_cursor(params["cursor"], "after", str) if "cursor" in params else None
    where = NodeFilter(**{k: params.get(k) for k in ("province", "datacenter", "rack", "status", "hostname")})
    rows = await list_nodes(request.app[ENGINE], where, after, limit + 1)
    page = [NodeSummary(**_summary_fields(row)) for row in rows[:limit]]
    next_cursor = encode_cursor({"after": rows[limit - 1].id}) if len(rows) > limit else None
    return model_response(NodeList(nodes=page, next_cursor=next_cursor))


def _clock_fields(usage_sent_at: datetime | None, last_seen_at: datetime | None) -> dict[str, Any]:
    skew_s = estimated_skew_s(usage_sent_at, last_seen_at)
    return {"clock_skew_s": skew_s, "clock_trusted": not skew_flagged(skew_s)}


async def get_node_detail(request: web.Request) -> web.Response:
    await require_role(request)
    node_id = request.match_info["node_id"]
    row = await get_node(request.app[ENGINE], node_id)
    if row is None:
        raise ApiError("node_not_found", detail={"node_id": node_id})
    detail = NodeDetail(
        **_summary_fields(row), status_reason=row.status_reason,
        inventory=Inventory.model_validate_json(row.inventory), inventory_changed_at=row.inventory_changed_at,
        latest_usage=Usage.model_validate_json(row.latest_usage) if row.latest_usage else None,
        usage_sent_at=row.usage_sent_at, **_clock_fields(row.usage_sent_at, row.last_seen_at),
    )
    return model_response(detail)


def _time_param(params: Any, name: str) -> datetime | None:
    if name not in params:
        return None
    try:
        value = datetime.fromisoformat(params[name])
    except ValueError:
        raise ApiError("invalid_query", detail={name: params[name]}) from None
    if value.tzinfo is None:
        raise ApiError("invalid_query", detail={name: "needs a time zone"})
    return value


async def get_node_usage(request: web.Request) -> web.Response:
    await require_role(request)
    node_id = request.match_info["node_id"]
    if await get_node(request.app[ENGINE], node_id) is None:
        raise ApiError("node_not_found", detail={"node_id": node_id})
    params = request.query
    limit = _limit(params)
    after = decode_cursor(params["cursor"], "after_seq", int) if "cursor" in params else 0
    rows = await usage_points(
        request.app[ENGINE], node_id, after, limit + 1, _time_param(params, "since"), _time_param(params, "until")
    )
    points = [
        UsagePoint(seq=r.seq, sent_at=r.sent_at, downsampled=r.downsampled, usage=Usage.model_validate_json(r.body))
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor({"after_seq": rows[limit - 1].seq}) if len(rows) > limit else None
    return model_response(UsageHistory(node_id=node_id, points=points, next_cursor=next_cursor))
