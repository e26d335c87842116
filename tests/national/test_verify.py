"""A page's tokens checked one by one: what a worker sends back, and the shortcuts it takes on the way."""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from suanli.controlplane import signing
from suanli.controlplane.certification.feed_signing import token_sha256
from suanli.national import verify
from suanli.national.state import COUNTS
from suanli.schema.national import PRECISIONS
from tests.national.sources import SignedFeed

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


def _outcome(decode: Callable[[], bytes]) -> bytes | type[Exception]:
    try:
        return decode()
    except ValueError as exc:  # binascii.Error is one
        return type(exc)


@pytest.mark.parametrize("text", ["", "QQ", "QUI", "QUJD", "-_-_", "_w", "QU+/", "Q U=\n", "QUJD!x", "QUJDR", "Q=QQ"])
def test_base64url_decoding_reads_what_the_standard_library_reads(text: str) -> None:
    expected = _outcome(lambda: base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    assert _outcome(lambda: signing.b64url_decode(text)) == expected
    assert _outcome(lambda: signing.b64url_decode(text.encode())) == expected


def _page(feed: SignedFeed) -> tuple[list[verify.Issued | None], list[str | None]]:
    events = verify.issued_of(feed.events)
    return events, [token_sha256(e["token"]) if e.get("token") else None for e in feed.events]


def _check(feed: SignedFeed, events: list[verify.Issued | None], digests: list[str | None] | None,
           verify_signatures: bool = False) -> list[object]:
    jwks = signing.build_jwks(feed.keys, NOW)
    return verify.check_page(jwks, feed.issuer, NOW.timestamp(), verify_signatures, events, digests)


def test_an_accepted_token_comes_back_as_the_record_the_store_keeps() -> None:
    feed = SignedFeed("https://cp.sd", "CN-SD", NOW)
    claims = feed.certify("sd-1", ["GPU-1", "GPU-2"])
    feed.add_event("revoked", "sd-0-0", "sd-0", reason="test")
    (record, revocation) = _check(feed, *_page(feed))
    assert revocation is None and not isinstance(record, verify.Refusal)
    kid, province, datacenter, expires_s, *rest = record
    assert (kid, province, datacenter, expires_s) == (feed.keys[0].kid, "CN-SD", "dc-CN-SD", claims.exp)
    figures = rest[: len(COUNTS) + len(PRECISIONS)]
    assert figures[COUNTS.index("cpu_physical_cores")] == 8
    assert figures[len(COUNTS) + PRECISIONS.index("fp16")] == 2e15
    assert rest[-3:] == [(("H100", 2),), (), b"".join(bytes.fromhex(h) for h in claims.hardware)]
    assert pickle.loads(pickle.dumps(record)) == record  # plain values: it crosses from a worker process


def test_a_token_with_a_non_ascii_character_is_malformed_whatever_the_page_signs() -> None:
    feed = SignedFeed("https://cp.sd", "CN-SD", NOW)
    feed.certify("sd-1", ["GPU-1"])
    header, payload, signature = feed.events[0]["token"].split(".")
    feed.events[0]["token"] = f"{header}.{payload[:10]}é{payload[11:]}.{signature}"
    events, digests = _page(feed)  # the digest signed over the token's UTF-8 bytes
    for signed in (digests, None):
        (refusal,) = _check(feed, events, signed)
        assert isinstance(refusal, verify.Refusal) and refusal.code == "malformed"


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "not a token"])
def test_a_token_that_is_not_a_compact_jws_is_malformed(token: str) -> None:
    feed = SignedFeed("https://cp.sd", "CN-SD", NOW)
    feed.certify("sd-1", ["GPU-1"])
    feed.events[0]["token"] = token
    (refusal,) = _check(feed, *_page(feed))
    assert isinstance(refusal, verify.Refusal) and refusal.code == "malformed"


def test_each_signature_is_checked_over_the_header_and_payload_bytes() -> None:
    feed = SignedFeed("https://cp.sd", "CN-SD", NOW)
    feed.certify("sd-1", ["GPU-1"])
    feed.certify("sd-2", ["GPU-2"])
    header, payload, signature = feed.events[1]["token"].split(".")
    feed.events[1]["token"] = f"{header}.{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    events, digests = _page(feed)
    first, second = _check(feed, events, None)
    assert not isinstance(first, verify.Refusal)
    assert isinstance(second, verify.Refusal) and second.code == "bad_signature"
    first, second = _check(feed, events, digests, verify_signatures=True)
    assert not isinstance(first, verify.Refusal) and isinstance(second, verify.Refusal)
