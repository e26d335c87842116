"""Signed feed pages: one Ed25519 signature binds a page's cursor range, its events in order and every token's SHA-256.

Like a transparency log's signed tree head, the page token lets a puller check a whole page with one
signature verification instead of one per certificate: only a holder of a key in the control plane's
JWKS can sign a statement naming exactly these events and the SHA-256 of exactly these token bytes.
It also authenticates what a certificate's own signature cannot: revocation events (with their
reasons), the order of events and where the page starts and ends. Each certificate stays a
standalone JWS anyone can verify later; the page token is an additional compact JWS (EdDSA, kid in
the same JWKS) whose claims are:

    {"iss", "iat", "cursor": the cursor as requested ('' for the start), "next_cursor", "has_more",
     "events": [[event_id, kind, certificate_id, node_id, reason, token SHA-256 hex or null], ...]}
"""

from __future__ import annotations

import hashlib
from json.encoder import encode_basestring_ascii
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import signing
from suanli.controlplane.certification import store

PAGE_TOKEN_TYPE = "suanli-feed-page+jwt"  # JWS `typ`: a page statement is never mistaken for a certificate


class PageSignatureError(Exception):
    """A feed page whose signed statement is missing, invalid, or does not describe the page as served."""


def token_sha256(token: str | bytes) -> str:
    """The hex SHA-256 of a token's exact bytes (ASCII for any compact JWS; UTF-8 for anything else).
    Bytes are hashed as they are (a puller that encoded the token already)."""
    return hashlib.sha256(token.encode("utf-8") if isinstance(token, str) else token).hexdigest()


def event_entry(
    event_id: int, kind: str, certificate_id: str, node_id: str, reason: str | None, token: str | None
) -> list[Any]:
    """One event as the page statement lists it."""
    return [event_id, kind, certificate_id, node_id, reason, token_sha256(token) if token else None]


def sign_page(
    key: signing.SigningKey, *, issuer: str, issued_s: int, cursor: str, next_cursor: str, has_more: bool,
    entries: Sequence[list[Any]],
) -> str:
    """The page token: the statement signed with the control plane's active key."""
    claims = {"iss": issuer, "iat": issued_s, "cursor": cursor, "next_cursor": next_cursor, "has_more": has_more,
              "events": list(entries)}
    return jwt.encode(claims, key.private_key, algorithm=signing.ALGORITHM,
                      headers={"kid": key.kid, "typ": PAGE_TOKEN_TYPE})


def _entry_of(event: Mapping[str, Any]) -> list[Any]:
    """What the statement must say of a served event, but the token's digest (checked per token, in the workers)."""
    return [event.get("event_id"), event.get("kind"), event.get("certificate_id"), event.get("node_id"),
            event.get("reason")]


def verified_page_digests(
    verifier: signing.JwksVerifier, issuer: str, cursor: str, page: Mapping[str, Any]
) -> list[str | None]:
    """Verify a page's token against the source's JWKS and the page as served; the signed token digests.

    The statement must be signed by a JWKS key, name the pinned issuer and the requested cursor, and
    list exactly the page's events in order (ids, kind, node, reason) with its next cursor and
    has_more. Each returned digest is what the event's token must hash to.
    """
    token = page.get("page_token")
    if not isinstance(token, str):
        raise PageSignatureError("the page carries no page signature")
    try:
        header, claims = verifier.verify_with_header(token)
    except signing.VerificationError as error:
        raise PageSignatureError(f"page signature rejected ({error.code}): {error}") from error
    if header.get("typ") != PAGE_TOKEN_TYPE:
        raise PageSignatureError("the page token is not a feed page statement")
    if claims.get("iss") != issuer:
        raise PageSignatureError(f"page signed for issuer {claims.get('iss')!r}, not {issuer!r}")
    if (claims.get("cursor"), claims.get("next_cursor"), claims.get("has_more")) != (
        cursor, page.get("next_cursor"), page.get("has_more")
    ):
        raise PageSignatureError("the signed cursor range is not the page's")
    entries = claims.get("events")
    events = page["events"]
    if not isinstance(entries, list) or len(entries) != len(events):
        raise PageSignatureError("the signed page lists other events than the page")
    for entry, event in zip(entries, events):
        if not isinstance(entry, list) or len(entry) != 6 or entry[:5] != _entry_of(event):
            raise PageSignatureError(f"event {event.get('event_id')} is not the one the page signature covers")
    return [entry[5] for entry in entries]


# The alphabet of a compact JWS: base64url segments joined by dots.
_JWS_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def _token_json_and_digest(token: str | None) -> tuple[str, str | None]:
    """A token as a JSON string, and its SHA-256. A compact JWS needs no escaping, so its text is copied
    rather than scanned by the JSON encoder (a third of the feed's cost); anything else is escaped."""
    if token is None:
        return "null", None
    if not token.isascii():  # not a JWS: served escaped, and the puller will reject it
        return encode_basestring_ascii(token), token_sha256(token)
    raw = token.encode("ascii")
    text = f'"{token}"' if not raw.translate(None, _JWS_BYTES) else encode_basestring_ascii(token)
    return text, hashlib.sha256(raw).hexdigest()


def _json_text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


def _event_json(row: store.FeedRow, token_json: str) -> str:
    return (f'{{"event_id":{row.event_id},"kind":{_json_text(row.kind)},"certificate_id":{_json_text(row.certificate_id)},'
            f'"node_id":{_json_text(row.node_id)},"at":{_json_text(row.at)},"token":{token_json},'
            f'"reason":{_json_text(row.reason)}}}')


async def signed_feed_page_json(
    engine: AsyncEngine, key: signing.SigningKey, issuer: str, cursor: str | None, limit: int, now_s: int
) -> str:
    """`GET /national/v1/certificates` as JSON text with its page token.

    The stored token text goes out as it is (no model built, validated or re-encoded per event):
    serving a page is one query, one SHA-256 per token and one signature.
    """
    after = store.decode_cursor(cursor)
    limit = max(1, min(limit, store.MAX_FEED_LIMIT))
    rows = await store.feed_rows(engine, after, limit)
    page = rows[:limit]
    next_cursor = store.encode_cursor(page[-1].event_id if page else after)
    has_more = len(rows) > limit
    events, entries = [], []
    for row in page:
        token_json, digest = _token_json_and_digest(row.token)
        events.append(_event_json(row, token_json))
        entries.append([row.event_id, row.kind, row.certificate_id, row.node_id, row.reason, digest])
    page_token = sign_page(key, issuer=issuer, issued_s=now_s, cursor=cursor or "", next_cursor=next_cursor,
                           has_more=has_more, entries=entries)
    return (f'{{"events":[{",".join(events)}],"next_cursor":{_json_text(next_cursor)},'
            f'"has_more":{"true" if has_more else "false"},"page_token":{_json_text(page_token)}}}')
