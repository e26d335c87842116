"""Liveness (`/healthz`, no dependencies) and readiness (`/readyz`, touches the database)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.errors import ApiError


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiError("unavailable", detail={"database": type(exc).__name__}) from exc
    return web.json_response({"status": "ready"})
