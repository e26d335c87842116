"""The feed is read while the summary is on its way, but nothing is committed before the summary checks out."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from suanli.controlplane import signing
from suanli.national import sync
from suanli.national.state import PullState
from tests.national.sources import SignedFeed

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)


class SlowSummary(SignedFeed):
    """A control plane whose summary is answered only once `pages_before_summary` feed pages were requested."""

    def __init__(self, pages_before_summary: int, summary_issuer: str | None = None, forged: bool = False) -> None:
        super().__init__("https://cp.sd", "CN-SD", NOW)
        self.pages_before_summary = pages_before_summary
        self.summary_issuer = summary_issuer
        self.forged = forged
        self.pages_seen_by_summary = -1

    async def summary(self) -> dict[str, Any]:
        for _ in range(1000):  # yields to the puller; a puller that waits for the summary first requests no page
            if self.page_requests >= self.pages_before_summary:
                break
            await asyncio.sleep(0)
        self.pages_seen_by_summary = self.page_requests
        document = await super().summary()
        if self.summary_issuer is not None or self.forged:
            claims = {"iss": self.summary_issuer or self.issuer,
                      "summary": {**document["summary"], "issuer": self.summary_issuer or self.issuer}}
            key = signing.generate_signing_key(NOW) if self.forged else signing.active_key(self.keys)
            document = {"summary": claims["summary"], "token": signing.sign_jwt(claims, key)}
        return document


def _feed(**options: Any) -> SlowSummary:
    feed = SlowSummary(**options)
    for index in range(7):
        feed.certify(f"sd-{index}", [f"GPU-{index}"])
    return feed


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PullState:
    monkeypatch.setattr(sync, "PAGE_LIMIT", 2)  # 4 pages
    monkeypatch.setattr(sync, "PAGES_PER_COMMIT", 1)  # a commit after each page, once the summary is in
    return PullState(tmp_path / "national.db")


async def test_the_first_page_is_read_while_the_summary_is_on_its_way(state: PullState) -> None:
    feed = _feed(pages_before_summary=1)
    report = await sync.sync_source(state, "sd", feed, NOW, workers=1)
    assert feed.pages_seen_by_summary >= 1
    assert report.issued == 7 and report.summary is not None and state.count("sd") == 7


async def test_a_forged_summary_arriving_after_the_pages_leaves_nothing_committed(state: PullState) -> None:
    feed = _feed(pages_before_summary=2, forged=True)
    with pytest.raises(sync.SourceError, match="summary cannot be verified"):
        await sync.sync_source(state, "sd", feed, NOW, workers=1)
    assert feed.pages_seen_by_summary == 2  # the first page was stored, the second requested, before the first commit
    assert state.count("sd") == 0 and state.source("sd") == (None, "", False)


async def test_pages_checked_for_another_issuer_than_the_summary_names_are_not_committed(state: PullState) -> None:
    feed = _feed(pages_before_summary=2, summary_issuer="https://other.example")
    with pytest.raises(sync.SourceError, match="summary names 'https://other.example'"):
        await sync.sync_source(state, "sd", feed, NOW, workers=1)
    assert state.count("sd") == 0 and state.source("sd") == (None, "", False)


async def test_a_pinned_issuer_is_checked_before_the_pages_are_committed(state: PullState) -> None:
    feed = _feed(pages_before_summary=0)
    await sync.sync_source(state, "sd", feed, NOW, workers=1)
    feed.issuer = "https://evil.example"
    feed.certify("sd-9", ["GPU-9"])
    with pytest.raises(sync.SourceError, match="issuer changed"):
        await sync.sync_source(state, "sd", feed, NOW, workers=1)
    assert state.count("sd") == 7
