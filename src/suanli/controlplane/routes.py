"""Every HTTP route of the control plane, in one table."""

from __future__ import annotations

from aiohttp import web

from suanli.controlplane.api import enroll, health, reports

ROUTES: list[web.RouteDef] = [
    web.get("/healthz", health.healthz),
    web.get("/readyz", health.readyz),
    web.post("/v1/enroll", enroll.post_enroll),
    web.post("/v1/reports", reports.post_reports),
]
