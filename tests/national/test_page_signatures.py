"""Signed feed pages: one signature per page binds the events, their order and every token's bytes."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path

import pytest

from suanli.controlplane import signing
from suanli.national import sync
from suanli.national.pull import pull_clients
from suanli.national.state import PullState
from tests.national.sources import SignedFeed

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def state(tmp_path: Path) -> PullState:
    return PullState(tmp_path / "national.db")


def _source() -> SignedFeed:
    shandong = SignedFeed("https://cp.sd", "CN-SD", NOW)
    shandong.certify("sd-1", ["GPU-1", "GPU-2"])
    shandong.certify("sd-2", ["GPU-3"])
    return shandong


def _flip_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    return f"{header}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


async def test_tampered_page_signature_rejects_the_page(state: PullState) -> None:
    shandong = _source()
    shandong.tamper_page = lambda page: page.update(page_token=_flip_signature(page["page_token"]))
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert "rejected" in result.failed["sd"] and "bad_signature" in result.failed["sd"]
    assert state.count("sd") == 0


async def test_page_signed_by_a_key_outside_the_jwks_rejects_the_page(state: PullState) -> None:
    shandong = _source()
    shandong.page_key = signing.generate_signing_key(NOW)
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert "unknown_key" in result.failed["sd"] and state.count("sd") == 0


async def test_forged_revocation_not_in_the_signed_page_is_rejected(state: PullState) -> None:
    shandong = _source()
    await pull_clients(state, [("sd", shandong)], NOW)
    forged = {"event_id": 3, "kind": "revoked", "certificate_id": "sd-1-0", "node_id": "sd-1", "at": NOW.isoformat(),
              "reason": "forged"}
    shandong.tamper_page = lambda page: page["events"].append(forged)
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert "other events than the page" in result.failed["sd"]
    assert state.count("sd") == 2


async def test_changed_revocation_reason_or_page_order_is_rejected(state: PullState) -> None:
    shandong = _source()
    shandong.add_event("revoked", "sd-2-1", "sd-2", reason="heard_recently: silent")
    shandong.tamper_page = lambda page: page["events"][2].update(reason="operator request")
    assert "sd" in (await pull_clients(state, [("sd", shandong)], NOW)).failed
    shandong.tamper_page = lambda page: page["events"].reverse()
    assert "sd" in (await pull_clients(state, [("sd", shandong)], NOW)).failed
    assert state.count("sd") == 0


async def test_page_replayed_for_another_cursor_is_rejected(state: PullState) -> None:
    shandong = _source()
    await pull_clients(state, [("sd", shandong)], NOW)
    first_page = await shandong.certificates("", sync.PAGE_LIMIT)
    shandong.add_event("revoked", "sd-1-0", "sd-1", reason="heard_recently: silent")
    shandong.tamper_page = lambda page: page.update(first_page)
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert "cursor range" in result.failed["sd"] and state.count("sd") == 2


async def test_unsigned_page_from_a_source_that_signed_pages_is_refused(state: PullState) -> None:
    shandong = _source()
    await pull_clients(state, [("sd", shandong)], NOW)
    shandong.signs_pages = False  # signatures stripped to slip in an unauthenticated revocation
    shandong.add_event("revoked", "sd-1-0", "sd-1", reason="forged")
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert "no page signature" in result.failed["sd"] and state.count("sd") == 2


async def test_older_server_without_page_signatures_is_verified_token_by_token(state: PullState) -> None:
    shandong = _source()
    shandong.signs_pages = False
    shandong.certify("sd-3", ["GPU-9"], key=signing.generate_signing_key(NOW))
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert result.failed == {} and [(r.node_id, r.code) for r in result.sources[0].rejected] == [("sd-3", "unknown_key")]
    assert state.count("sd") == 2 and state.source("sd")[2] is False


async def test_verify_each_token_also_checks_tokens_the_page_signature_covers(state: PullState, tmp_path: Path) -> None:
    shandong = _source()
    shandong.events[0]["token"] = _flip_signature(shandong.events[0]["token"])  # signed into the page as it is
    vouched = await pull_clients(state, [("sd", shandong)], NOW)
    assert vouched.sources[0].rejected == [] and state.count("sd") == 2  # the page signature vouches for the bytes
    fresh = PullState(tmp_path / "each-token.db")
    checked = await pull_clients(fresh, [("sd", shandong)], NOW, verify_each_token=True)
    assert [(r.node_id, r.code) for r in checked.sources[0].rejected] == [("sd-1", "bad_signature")]
