"""`GET /openapi.json`: the API description, its schemas generated from the pydantic models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiohttp import web
from pydantic.json_schema import models_json_schema

from suanli.controlplane.errors import ERROR_CODES
from suanli.schema import BatchAck, EnrollRequest, EnrollResponse, ErrorResponse, ReportBatch
from suanli.schema.capacity import CapacityResponse
from suanli.schema.certification import CertificationList
from suanli.schema.national import CertificateFeedPage, Jwks, SignedSummary
from suanli.schema.nodes import NodeDetail, NodeList, UsageHistory

_REF = "#/components/schemas/{model}"
_MODELS = [
    (EnrollRequest, "validation"), (EnrollResponse, "serialization"), (ReportBatch, "validation"),
    (BatchAck, "serialization"), (CapacityResponse, "serialization"), (NodeList, "serialization"),
    (NodeDetail, "serialization"), (UsageHistory, "serialization"), (ErrorResponse, "serialization"),
    (CertificationList, "serialization"),
    (Jwks, "serialization"), (SignedSummary, "serialization"), (CertificateFeedPage, "serialization"),
]


def _ref(model: type) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(summary: str, ok: tuple[int, type], body: type | None = None, auth: str = "bearer") -> dict:
    responses: dict[str, Any] = {str(ok[0]): {"description": "OK", "content": {"application/json": {"schema": _ref(ok[1])}}}}
    responses["default"] = {
        "description": "error with a stable code: " + ", ".join(sorted(ERROR_CODES)),
        "content": {"application/json": {"schema": _ref(ErrorResponse)}},
    }
    operation: dict[str, Any] = {"summary": summary, "responses": responses, "security": [{auth: []}]}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return operation


def _query(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once: the models do not change while running)."""
    _, schemas = models_json_schema(_MODELS, ref_template=_REF)
    node_param = [{"name": "node_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths = {
        "/v1/enroll": {"post": {**_operation("Enroll a node with a bootstrap token", (201, EnrollResponse), EnrollRequest), "security": []}},
        "/v1/reports": {"post": _operation("Post a batch of a node's reports", (200, BatchAck), ReportBatch)},
        "/v1/capacity": {"get": {**_operation("Live capacity, grouped and filtered", (200, CapacityResponse)),
                                 "parameters": _query("by", "province", "datacenter", "rack", "accelerator_model", "vendor", "status")}},
        "/v1/nodes": {"get": {**_operation("Nodes, filtered, one page", (200, NodeList)),
                              "parameters": _query("province", "datacenter", "rack", "status", "hostname", "limit", "cursor")}},
        "/v1/nodes/{node_id}": {"get": {**_operation("A node's latest inventory and usage", (200, NodeDetail)), "parameters": node_param}},
        "/v1/nodes/{node_id}/usage": {"get": {**_operation("A node's usage history", (200, UsageHistory)),
                                              "parameters": node_param + _query("since", "until", "limit", "cursor")}},
        "/v1/certification": {"get": {**_operation("Certification state and failing checks per node, problems first",
                                                   (200, CertificationList)),
                                      "parameters": _query("province", "datacenter", "state", "status", "limit", "cursor")}},
        "/metrics": {"get": {"summary": "Prometheus text exposition (capacity, ingest, requests, database)",
                             "security": [{"bearer": []}],
                             "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/.well-known/jwks.json": {"get": {**_operation("Public keys that verify certificates and summaries", (200, Jwks)),
                                           "security": []}},
        "/national/v1/summary": {"get": _operation("Certified supply per province and data center, signed", (200, SignedSummary))},
        "/national/v1/certificates": {"get": {**_operation("Change feed of issued and revoked certificates", (200, CertificateFeedPage)),
                                              "parameters": _query("cursor", "limit")}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "suanli control plane", "version": "v1"},
        "paths": paths,
        "components": {"schemas": schemas.get("$defs", {}),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())
