"""The dashboard's pages: `/` (the app, once logged in), `/login` (form and POST), `/logout` (POST)."""

from __future__ import annotations

import html
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from suanli.controlplane.api.access import OPERATOR_ROLES
from suanli.controlplane.appkeys import CONFIG, ENGINE
from suanli.controlplane.dashboard import sessions
from suanli.controlplane.dashboard.session_store import key_for_secret

STATIC_DIR = Path(__file__).parent / "static"
# Everything the page loads comes from this server; no inline script, no framing by other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make Chromium send `Origin: null` on login
    "Cache-Control": "no-store",
}
MAX_KEY_CHARS = 512


def _page(name: str, status: int = 200, **slots: str) -> web.Response:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    for slot, value in slots.items():
        text = text.replace("{{" + slot + "}}", html.escape(value))
    return web.Response(text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})


async def get_index(request: web.Request) -> web.Response:
    """The dashboard for a logged-in operator; anyone else is sent to the login form."""
    if await sessions.session_role(request) not in OPERATOR_ROLES:
        return _redirect("/login")
    return _page("index.html")


async def get_login(request: web.Request) -> web.Response:
    if await sessions.session_role(request) in OPERATOR_ROLES:
        return _redirect("/")
    return _page("login.html", message="")


def _same_origin(request: web.Request) -> bool:
    """A form post from another site is refused even before SameSite would keep its cookie away."""
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


async def post_login(request: web.Request) -> web.Response:
    """Check the posted API key; an operator or admin key gets a session cookie and the dashboard."""
    if not _same_origin(request):
        return _page("login.html", 403, message="Refused: the form was posted from another site.")
    form = await request.post()
    secret = str(form.get("key", "")).strip()
    key = await key_for_secret(request.app[ENGINE], secret) if 0 < len(secret) <= MAX_KEY_CHARS else None
    if key is None:
        return _page("login.html", 401, message="Unknown or revoked key.")
    if key.role not in OPERATOR_ROLES:
        return _page("login.html", 403, message=f"A {key.role} key cannot open the dashboard; use an operator key.")
    settings = request.app[CONFIG].dashboard
    response = _redirect("/")
    sessions.set_cookie(response, request, sessions.issue(settings.signing_secret, key.key_id, settings.session_ttl_s))
    return response


async def post_logout(request: web.Request) -> web.Response:
    if not _same_origin(request):
        return _page("login.html", 403, message="Refused: the form was posted from another site.")
    response = _redirect("/login")
    sessions.log_out(request, response)
    return response
