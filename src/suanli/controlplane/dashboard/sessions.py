"""Session cookies: signed (HMAC-SHA256) tokens naming an API key and an expiry, so any instance sharing the secret accepts them.

A cookie is `s1.<key id>.<expires unix s>.<random nonce>.<signature>`. It proves that someone
presented the key's secret at login, never contains the secret, and stops working when it expires,
when the key is revoked (checked at every request, through the short auth cache), or, on the
process that saw the logout, once logged out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from suanli.controlplane.appkeys import CONFIG, ENGINE, KEY_AUTH_CACHE
from suanli.controlplane.dashboard.session_store import role_of_key_id

COOKIE_NAME = "suanli_session"
_VERSION = "s1"
# Cookies this process saw logged out (value → expiry), refused until they would have expired anyway.
LOGGED_OUT = web.AppKey("dashboard_logged_out", dict)


@dataclass(frozen=True)
class Session:
    key_id: int
    expires_at_s: int


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: bytes, key_id: int, ttl_s: float, now_s: float | None = None) -> str:
    """A new cookie value for `key_id`, valid `ttl_s` from now."""
    expires = int((time.time() if now_s is None else now_s) + ttl_s)
    payload = f"{_VERSION}.{key_id}.{expires}.{secrets.token_urlsafe(16)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, value: str, now_s: float | None = None) -> Session | None:
    """The session a cookie stands for, or None when it is malformed, forged or expired."""
    payload, _, signature = value.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if not hmac.compare_digest(signature, _signature(secret, payload)):
        return None
    session = Session(int(parts[1]), int(parts[2]))
    if session.expires_at_s <= (time.time() if now_s is None else now_s):
        return None
    return session


async def session_role(request: web.Request) -> str | None:
    """The role behind the request's session cookie, or None when there is no valid session."""
    value = request.cookies.get(COOKIE_NAME)
    if not value or value in request.app.get(LOGGED_OUT, {}):
        return None
    session = verify(request.app[CONFIG].dashboard.signing_secret, value)
    if session is None:
        return None
    cache = request.app[KEY_AUTH_CACHE]
    cache_key = f"session-key:{session.key_id}"
    role = cache.get(cache_key)
    if role is None:
        role = await role_of_key_id(request.app[ENGINE], session.key_id)
        if role is None:
            return None
        cache.put(cache_key, role)
    return role


def set_cookie(response: web.StreamResponse, request: web.Request, value: str) -> None:
    """HTTP-only (no script reads it), SameSite=Strict (no cross-site request carries it)."""
    settings = request.app[CONFIG].dashboard
    response.set_cookie(
        COOKIE_NAME, value, max_age=int(settings.session_ttl_s), path="/", httponly=True,
        samesite="Strict", secure=settings.secure_cookie,
    )


def log_out(request: web.Request, response: web.StreamResponse) -> None:
    """Forget the cookie in the browser and refuse it here even if a copy of it turns up."""
    value = request.cookies.get(COOKIE_NAME)
    logged_out = request.app.get(LOGGED_OUT)
    if value and logged_out is not None:
        now_s = time.time()
        for stale in [v for v, expires_s in logged_out.items() if expires_s <= now_s]:
            del logged_out[stale]
        session = verify(request.app[CONFIG].dashboard.signing_secret, value)
        if session is not None:
            logged_out[value] = session.expires_at_s
    response.del_cookie(COOKIE_NAME, path="/")
