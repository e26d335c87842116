"""`POST /v1/enroll`: a bootstrap token and the first inventory in, a node id and credential out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import nullcontext

from aiohttp import web
from sqlalchemy import Connection

from suanli.controlplane.api.parsing import model_response, parse_body
from suanli.controlplane.appkeys import CATALOG, CONFIG, NODE_AUTH_CACHE, SYNC_DB
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store.enroll import EnrolledNode, EnrollItem, enroll_nodes
from suanli.controlplane.store.nodes import NodeIdentity
from suanli.controlplane.writer import GroupWriter
from suanli.schema import EnrollRequest, EnrollResponse, utc_now

ENROLL_WRITER = web.AppKey("enroll_writer", GroupWriter[EnrollItem, "EnrolledNode | ApiError"])


async def enroll_writer_ctx(app: web.Application) -> AsyncIterator[None]:
    """Enrollments share transactions (group commit) as report batches do: when a data center's
    agents start together, one transaction spends the token for many nodes and updates the
    aggregate rows once, and on SQLite enrollment takes turns with the report writer instead of
    racing it."""
    catalog = app[CATALOG]

    def write_group(connection: Connection, items: list[EnrollItem]) -> list[EnrolledNode | ApiError]:
        return enroll_nodes(connection, items, utc_now(), catalog)

    # One transaction at a time on either store: enrollments are rare, and one group's token
    # spending must not race another's.
    writer = app[SYNC_DB].group_writer(
        write_group, app[CONFIG].group_commit_max_requests, 1, nullcontext, name="suanli-enroll-writer"
    )
    writer.start()
    app[ENROLL_WRITER] = writer
    yield
    await writer.stop()


async def post_enroll(request: web.Request) -> web.Response:
    enroll = await parse_body(request, EnrollRequest)
    node = await request.app[ENROLL_WRITER].submit(EnrollItem(enroll.token, enroll.inventory))
    if isinstance(node, ApiError):
        raise node
    # The agent's next request is its first report, normally to this process: spare it the look-up.
    identity = NodeIdentity(node.node_id, node.status, node.province, node.datacenter)
    request.app[NODE_AUTH_CACHE].put(node.credential, identity)
    response = EnrollResponse(
        node_id=node.node_id, credential=node.credential, datacenter=node.datacenter,
        province=node.province, server_time=node.enrolled_at,
    )
    return model_response(response, status=201)
