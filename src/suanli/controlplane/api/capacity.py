"""`GET /v1/capacity`: live capacity grouped by place or accelerator, filtered by the same and status."""

from __future__ import annotations

from typing import get_args

from aiohttp import web

from suanli.controlplane.api.access import require_role
from suanli.controlplane.api.parsing import model_response
from suanli.controlplane.appkeys import CONFIG, SYNC_DB
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store.capacity import DEFAULT_STATUSES, CapacityQuery, read_capacity
from suanli.controlplane.store.tables import NODE_STATUSES
from suanli.schema import utc_now
from suanli.schema.capacity import CapacityGroupBy, CapacityResponse

FILTERS = ("province", "datacenter", "rack", "accelerator_model", "vendor")


def parse_query(params: dict[str, str]) -> CapacityQuery:
    """The query string as a CapacityQuery; unknown names or values are 400 `invalid_query`."""
    unknown = sorted(set(params) - {"by", "status", *FILTERS})
    if unknown:
        raise ApiError("invalid_query", detail={"unknown_parameters": unknown})
    by = params.get("by", "province")
    if by not in get_args(CapacityGroupBy):
        raise ApiError("invalid_query", detail={"by": by, "allowed": list(get_args(CapacityGroupBy))})
    statuses = tuple(s for s in params.get("status", "").split(",") if s) or DEFAULT_STATUSES
    bad = [s for s in statuses if s not in NODE_STATUSES]
    if bad:
        raise ApiError("invalid_query", detail={"status": bad, "allowed": list(NODE_STATUSES)})
    return CapacityQuery(by=by, statuses=statuses, **{f: params.get(f) or None for f in FILTERS})


async def get_capacity(request: web.Request) -> web.Response:
    await require_role(request)
    query = parse_query(dict(request.query))
    groups, total = await request.app[SYNC_DB].read(read_capacity, query)
    filters: dict[str, str | list[str]] = {f: getattr(query, f) for f in FILTERS if getattr(query, f)}
    filters["status"] = list(query.statuses)
    response = CapacityResponse.model_construct(
        by=query.by, filters=filters, generated_at=utc_now(), groups=groups, total=total,
        in_use_threshold_percent=request.app[CONFIG].in_use_threshold_percent,
    )
    return model_response(response)
