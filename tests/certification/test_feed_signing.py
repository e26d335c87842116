"""The feed page's JSON is written by hand for speed: it must still be the JSON of the same values."""

from __future__ import annotations

import json

import pytest

from suanli.controlplane.certification import feed_signing, store


@pytest.mark.parametrize("token", ["eyJh.eyJz.c2ln", 'quote"inside', "back\\slash", "ctl\x01char", "tab\tchar", "non-ascii-é", None])
def test_event_json_is_the_json_of_its_values(token: str | None) -> None:
    row = store.FeedRow(7, "issued", 'id"1', "nd-\\1", "2026-11-21T12:00:00+00:00", None, token)
    token_json, digest = feed_signing._token_json_and_digest(token)
    assert digest == (feed_signing.token_sha256(token) if token is not None else None)
    assert json.loads(feed_signing._event_json(row, token_json)) == {
        "event_id": 7, "kind": "issued", "certificate_id": 'id"1', "node_id": "nd-\\1",
        "at": "2026-11-21T12:00:00+00:00", "token": token, "reason": None,
    }


def test_stored_event_times_become_iso_utc() -> None:
    assert store._iso_utc("2026-11-21 12:00:00.250000") == "2026-11-21T12:00:00.250000+00:00"
