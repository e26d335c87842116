"""`POST /v1/enroll`: a bootstrap token and the first inventory in, a node id and credential out."""

from __future__ import annotations

from aiohttp import web

from suanli.controlplane.api.parsing import model_response, parse_body
from suanli.controlplane.appkeys import CATALOG, ENGINE
from suanli.controlplane.store.nodes import enroll_node
from suanli.schema import EnrollRequest, EnrollResponse, utc_now


async def post_enroll(request: web.Request) -> web.Response:
    enroll = await parse_body(request, EnrollRequest)
    now = utc_now()
    node = await enroll_node(request.app[ENGINE], enroll.token, enroll.inventory, now, request.app[CATALOG])
    response = EnrollResponse(
        node_id=node.node_id, credential=node.credential, datacenter=node.datacenter,
        province=node.province, server_time=now,
    )
    return model_response(response, status=201)
