"""The national platform's API: the JWKS, the signed summary and the certificate change feed."""

from __future__ import annotations

from aiohttp import web

from suanli.controlplane.api.access import require_role
from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.certification import feed_signing, keystore, store
from suanli.controlplane.certification.service import CERTIFICATION
from suanli.controlplane.errors import ApiError
from suanli.schema import utc_now

# The national platform reads; operators may look at what it would see.
NATIONAL_ROLES = ("national", "operator", "admin")
DEFAULT_FEED_LIMIT = 1000


async def get_jwks(request: web.Request) -> web.Response:
    """`GET /.well-known/jwks.json`: public keys, so anyone can verify certificates (no key needed)."""
    jwks = await keystore.published_jwks(request.app[ENGINE], utc_now())
    return web.json_response(jwks, headers={"Cache-Control": "public, max-age=60"})


async def get_summary(request: web.Request) -> web.Response:
    """`GET /national/v1/summary`: certified supply per province and data center, signed."""
    await require_role(request, NATIONAL_ROLES)
    summary = await request.app[CERTIFICATION].summary()
    return web.json_response(summary.model_dump(mode="json"))


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_FEED_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= store.MAX_FEED_LIMIT:
        raise ApiError("invalid_query", detail={"limit": f"1..{store.MAX_FEED_LIMIT}"})
    return int(raw)


async def get_certificates(request: web.Request) -> web.Response:
    """`GET /national/v1/certificates?cursor=&limit=`: issued and revoked events after the cursor, the page signed."""
    await require_role(request, NATIONAL_ROLES)
    certification = request.app[CERTIFICATION]
    limit = _limit(request)
    try:
        text = await feed_signing.signed_feed_page_json(
            request.app[ENGINE], await certification.page_signing_key(), certification.issuer,
            request.query.get("cursor"), limit, int(utc_now().timestamp()),
        )
    except store.InvalidCursor:
        raise ApiError("invalid_cursor") from None
    return web.Response(text=text, content_type="application/json")
