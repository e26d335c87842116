"""An in-process control plane speaking the agent's HTTP contract, with scripted failures for tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from suanli.schema import BatchAck, EnrollRequest, EnrollResponse, ReportBatch, utc_now

NODE_ID = "node-0001"
CREDENTIAL = "cred-" + "s3cr3t" * 6
TOKEN = "bootstrap-token-0123456789"


@dataclass
class Scripted:
    """One canned answer for the next `POST /v1/reports`."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "detail": detail}}


class FakeControlPlane:
    """Stores seqs per node like the real one (idempotent on (node, seq)), answers scripted errors first.

    `reject_seq(seq)` makes any batch holding that seq fail with 422 naming its index (or, with
    `name_index=False`, without an index), the way the real validation middleware answers.
    """

    def __init__(self) -> None:
        self.stored: dict[int, dict[str, Any]] = {}
        self.received_batches: list[list[int]] = []
        self.script: list[Scripted] = []
        self.rejected_seqs: set[int] = set()
        self.name_index = True
        self.enroll_requests: list[dict[str, Any]] = []
        self.authorization_seen: list[str] = []
        self.on_batch: Callable[[list[int]], None] | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/enroll", self.enroll)
        app.router.add_post("/v1/reports", self.reports)
        return app

    async def enroll(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.enroll_requests.append(data)
        try:
            enroll = EnrollRequest.model_validate(data)
        except ValidationError as exc:
            return web.json_response(error_body("validation_failed", str(exc)), status=422)
        if enroll.token != TOKEN:
            return web.json_response(error_body("token_invalid", "unknown bootstrap token"), status=401)
        answer = EnrollResponse(
            node_id=NODE_ID, credential=CREDENTIAL, datacenter="dc-jinan-1", province="CN-SD", server_time=utc_now()
        )
        return web.json_response(answer.model_dump(mode="json"), status=201)

    async def reports(self, request: web.Request) -> web.Response:
        self.authorization_seen.append(request.headers.get("Authorization", ""))
        raw = await request.read()
        seqs = [report["seq"] for report in json.loads(raw)["reports"]]
        self.received_batches.append(seqs)
        if self.on_batch is not None:
            self.on_batch(seqs)
        if self.script:
            scripted = self.script.pop(0)
            return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)
        if request.headers.get("Authorization") != f"Bearer {CREDENTIAL}":
            return web.json_response(error_body("unauthorized", "bad credential"), status=401)
        return self._store(raw, seqs)

    def _store(self, raw: bytes, seqs: list[int]) -> web.Response:
        for index, seq in enumerate(seqs):
            if seq in self.rejected_seqs:
                detail = {"errors": [{"loc": ["reports", index, "body"], "msg": "bad", "type": "value_error"}]}
                if self.name_index:
                    detail["errors"][0]["index"] = index
                else:
                    detail = {"message": "one report is bad"}
                return web.json_response(error_body("validation_failed", "invalid batch", detail), status=422)
        batch = ReportBatch.model_validate_json(raw)  # the agent's output must pass the real contract
        ack = BatchAck()
        for report in batch.reports:
            if report.seq in self.stored:
                ack.duplicates.append(report.seq)
            else:
                self.stored[report.seq] = report.model_dump(mode="json", by_alias=True)
                ack.accepted.append(report.seq)
        return web.json_response(ack.model_dump(mode="json"))
