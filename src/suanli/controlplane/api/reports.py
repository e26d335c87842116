"""`POST /v1/reports`: a node's batch of v1 envelopes, stored idempotently by (node_id, seq)."""

from __future__ import annotations

from aiohttp import web

from suanli.controlplane.api.parsing import model_response, parse_body
from suanli.controlplane.appkeys import CONFIG, ENGINE, NODE_AUTH_CACHE, REPORT_WRITER
from suanli.controlplane.auth import bearer_secret
from suanli.controlplane.clock import sent_at_problem
from suanli.controlplane.errors import ApiError
from suanli.controlplane.metrics import METRICS
from suanli.controlplane.store.nodes import NodeIdentity, check_location, node_for_credential
from suanli.controlplane.store.reports import IngestItem
from suanli.schema import ReportBatch, utc_now


async def authenticated_node(request: web.Request) -> NodeIdentity:
    """The node whose credential is presented, or 401 `invalid_credential`.

    Cached for `node_auth_cache_ttl_s`: the node's status is checked again by the writer under lock,
    so a revoked node is refused at once; only a revoked credential waits out the cache.
    """
    secret = bearer_secret(request)
    engine = request.app[ENGINE]
    node = await request.app[NODE_AUTH_CACHE].get_or_load(secret, lambda: node_for_credential(engine, secret))
    if node is None:
        raise ApiError("invalid_credential")
    return node


def check_batch(node: NodeIdentity, batch: ReportBatch, max_reports: int) -> None:
    """Only the caller's own node, only its own data center, at most `max_reports`."""
    if len(batch.reports) > max_reports:
        raise ApiError("batch_too_large", detail={"max_reports": max_reports})
    now = utc_now()
    for index, report in enumerate(batch.reports):
        if report.node_id != node.node_id:
            raise ApiError("node_mismatch", detail={"index": index, "node_id": report.node_id})
        if problem := sent_at_problem(report.sent_at, now):
            raise ApiError("timestamp_out_of_window", detail={"index": index, "sent_at": problem})
        if report.kind == "inventory":
            try:
                check_location(report.body, node.datacenter, node.province)
            except ApiError as exc:
                raise ApiError(exc.code, exc.message, {"index": index, **exc.detail}) from None


async def validated_batch(request: web.Request, node: NodeIdentity) -> IngestItem:
    """The request's batch parsed, checked and reduced to what the writer needs. A function of
    its own so the validated models go when it returns, not after the group commits: waiting
    requests holding theirs slowed every parse (see `IngestItem`)."""
    batch = await parse_body(request, ReportBatch)
    check_batch(node, batch, request.app[CONFIG].max_batch_reports)
    # The history's bodies are copied from the request's text (parse_body read it; aiohttp keeps it).
    return IngestItem.prepare(node, batch.reports, await request.read())


async def post_reports(request: web.Request) -> web.Response:
    node = await authenticated_node(request)
    if node.status == "revoked":
        raise ApiError("node_revoked")
    item = await validated_batch(request, node)
    result = await request.app[REPORT_WRITER].submit(item)
    if isinstance(result, ApiError):
        raise result
    request.app[METRICS].observe_ack(result)
    return model_response(result)
