"""A minimal server that holds the simulator to the v1 HTTP contract: validates every request, keeps
(node, seq) idempotent, and answers busy (429 + Retry-After) once per node to exercise retries.

It stands in for the control plane only in the driver's unit tests; the integration tests use the
real `suanli serve`."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import ValidationError

from suanli.schema import BatchAck, EnrollRequest, EnrollResponse, Inventory, ReportBatch, utc_now


@dataclass
class ContractState:
    tokens: dict[str, tuple[str, str]]  # token -> (datacenter, province)
    busy_once: bool = True
    # Answer this many enrollments 503 + Retry-After first (a storage conflict the control plane gave up on).
    enroll_unavailable: int = 0
    # Misbehave on purpose: answer malformed batches 200 (to prove the simulator notices).
    accept_malformed: bool = False
    credentials: dict[str, str] = field(default_factory=dict)  # credential -> node id
    inventories: dict[str, Inventory] = field(default_factory=dict)  # node id -> latest inventory
    seqs: dict[str, list[int]] = field(default_factory=dict)  # node id -> stored seqs in arrival order
    busy_sent: set[str] = field(default_factory=set)
    enrolled_in: Counter = field(default_factory=Counter)  # datacenter -> nodes
    rejected: int = 0


STATE = web.AppKey("contract_state", ContractState)


def _error(status: int, code: str, message: str, detail=None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "detail": detail}}, status=status)


async def _enroll(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        body = EnrollRequest.model_validate_json(await request.read())
    except ValidationError as exc:
        return _error(422, "validation_failed", "bad enrollment", [e["loc"] for e in exc.errors()])
    if body.token not in state.tokens:
        return _error(401, "token_invalid", "unknown token")
    if state.enroll_unavailable > 0:
        state.enroll_unavailable -= 1
        return web.json_response({"error": {"code": "unavailable", "message": "later"}}, status=503,
                                 headers={"Retry-After": "0"})
    datacenter, province = state.tokens[body.token]
    node_id = f"n{len(state.credentials) + 1:06d}"
    credential = secrets.token_urlsafe(32)
    state.credentials[credential] = node_id
    state.inventories[node_id] = body.inventory
    state.seqs[node_id] = []
    state.enrolled_in[datacenter] += 1
    answer = EnrollResponse(node_id=node_id, credential=credential, datacenter=datacenter,
                            province=province, server_time=utc_now())
    return web.json_response(answer.model_dump(mode="json"), status=201)


async def _reports(request: web.Request) -> web.Response:
    state = request.app[STATE]
    node_id = state.credentials.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
    if node_id is None:
        return _error(401, "credential_invalid", "unknown credential")
    if state.busy_once and node_id not in state.busy_sent:
        state.busy_sent.add(node_id)
        return web.json_response({"error": {"code": "busy", "message": "later"}}, status=429,
                                 headers={"Retry-After": "0"})
    try:
        batch = ReportBatch.model_validate_json(await request.read())
    except ValidationError as exc:
        state.rejected += 1
        if state.accept_malformed:
            return web.json_response(BatchAck().model_dump(mode="json"))
        return _error(422, "validation_failed", "bad report", [e["loc"] for e in exc.errors()])
    if any(r.node_id != node_id for r in batch.reports):
        return _error(403, "node_mismatch", "another node's report")
    ack = BatchAck()
    for report in batch.reports:
        target = ack.duplicates if report.seq in state.seqs[node_id] else ack.accepted
        target.append(report.seq)
        if target is ack.accepted:
            state.seqs[node_id].append(report.seq)
            if report.kind == "inventory":
                state.inventories[node_id] = report.body
    return web.json_response(ack.model_dump(mode="json"))


def build_app(state: ContractState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_post("/v1/enroll", _enroll)
    app.router.add_post("/v1/reports", _reports)
    return app
