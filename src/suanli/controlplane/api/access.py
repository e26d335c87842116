"""Operator access: an API key whose role allows the request (agents never reach these routes).

The key comes as `Authorization: Bearer <key>`, or, for the dashboard's browser, as the session
cookie its login set (a request with an Authorization header is judged by that header alone).
"""

from __future__ import annotations

from aiohttp import web

from suanli.controlplane.appkeys import ENGINE, KEY_AUTH_CACHE
from suanli.controlplane.auth import bearer_secret
from suanli.controlplane.dashboard.sessions import session_role
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store.keys import role_of_key

OPERATOR_ROLES = ("operator", "admin")


async def require_role(request: web.Request, roles: tuple[str, ...] = OPERATOR_ROLES) -> str:
    """The caller's role when it is one of `roles`: 401 for an unknown key, 403 for another role."""
    if "Authorization" not in request.headers:
        role = await session_role(request)
        if role is not None:
            return _allowed(role, roles)
    secret = bearer_secret(request)
    engine = request.app[ENGINE]
    role = await request.app[KEY_AUTH_CACHE].get_or_load(secret, lambda: role_of_key(engine, secret))
    if role is None:
        raise ApiError("invalid_api_key")
    return _allowed(role, roles)


def _allowed(role: str, roles: tuple[str, ...]) -> str:
    if role not in roles:
        raise ApiError("forbidden_role", detail={"role": role, "allowed": list(roles)})
    return role
