"""Every HTTP route of the control plane, in one table."""

from __future__ import annotations

from aiohttp import web

from suanli.controlplane import metrics
from suanli.controlplane.api import capacity, certification_status, enroll, health, national, nodes, openapi, reports
from suanli.controlplane.dashboard import history, pages

ROUTES: list[web.RouteDef] = [
    web.get("/healthz", health.healthz),
    web.get("/readyz", health.readyz),
    web.get("/openapi.json", openapi.get_openapi),
    web.post("/v1/enroll", enroll.post_enroll),
    web.post("/v1/reports", reports.post_reports),
    web.get("/v1/capacity", capacity.get_capacity),
    web.get("/v1/nodes", nodes.get_nodes),
    web.get("/v1/nodes/{node_id}", nodes.get_node_detail),
    web.get("/v1/nodes/{node_id}/usage", nodes.get_node_usage),
    web.get("/.well-known/jwks.json", national.get_jwks),
    web.get("/national/v1/summary", national.get_summary),
    web.get("/national/v1/certificates", national.get_certificates),
    web.get("/v1/certification", certification_status.get_certification),
    web.get("/metrics", metrics.get_metrics),
    web.get("/", pages.get_index),
    web.get("/login", pages.get_login),
    web.post("/login", pages.post_login),
    web.post("/logout", pages.post_logout),
    web.get("/dashboard/utilisation", history.get_utilisation),
    web.static("/dashboard/static", pages.STATIC_DIR),
]
