"""The puller verifies every certificate and summary, syncs incrementally and counts shared hardware once."""

from __future__ import annotations

import base64
import gc
import sys
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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


def _two_sources() -> tuple[SignedFeed, SignedFeed]:
    shandong, jiangsu = SignedFeed("https://cp.sd", "CN-SD", NOW), SignedFeed("https://cp.js", "CN-JS", NOW)
    shandong.certify("sd-1", ["GPU-1", "GPU-2"])
    shandong.certify("sd-2", [])
    jiangsu.certify("js-1", ["GPU-9"])
    return shandong, jiangsu


async def test_full_pull_adds_both_sources(state: PullState) -> None:
    shandong, jiangsu = _two_sources()
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    assert result.failed == {} and result.duplicates == []
    assert result.nodes_by_province == {"CN-SD": 2, "CN-JS": 1}
    assert result.total.accelerators == {"H100": 3}
    assert result.total.flops.fp16 == 3e15 and result.total.cpu_physical_cores == 24
    assert result.standard_racks_by_province == {"CN-SD": 10.0, "CN-JS": 10.0}
    totals = result.to_json()["totals"]
    assert totals["eflops_fp16"] == pytest.approx(0.003) and totals["standard_racks"] == 20.0


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["capacity"]["accelerators"] = {"H100": 800}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def tamper_in_transit(node_id: str) -> Callable[[dict[str, Any]], None]:
    """A page change after the source signed it: the token of `node_id`'s issued event is altered."""
    def tamper(page: dict[str, Any]) -> None:
        for event in page["events"]:
            if event["node_id"] == node_id and event["kind"] == "issued":
                event["token"] = _tamper(event["token"])
    return tamper


@pytest.mark.parametrize("signs_pages", [True, False], ids=["token-hash-in-signed-page", "token-signature"])
async def test_tampered_certificate_is_rejected_and_not_counted(state: PullState, signs_pages: bool) -> None:
    shandong, _ = _two_sources()
    shandong.signs_pages = signs_pages
    shandong.tamper_page = tamper_in_transit("sd-1")
    result = await pull_clients(state, [("sd", shandong)], NOW)
    (rejection,) = result.sources[0].rejected
    assert (rejection.node_id, rejection.code) == ("sd-1", "bad_signature")
    assert result.nodes_by_province == {"CN-SD": 1}
    assert result.total.accelerators == {}


async def test_certificate_of_unknown_key_is_rejected(state: PullState) -> None:
    shandong, _ = _two_sources()
    shandong.certify("sd-3", ["GPU-3"], key=signing.generate_signing_key(NOW))
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert [(r.node_id, r.code) for r in result.sources[0].rejected] == [("sd-3", "unknown_key")]
    assert result.nodes_by_province == {"CN-SD": 2}


async def test_token_for_another_node_is_rejected(state: PullState) -> None:
    shandong, _ = _two_sources()
    shandong.events[1]["node_id"] = "sd-1"  # event for sd-1 carrying sd-2's genuine token
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert [r.code for r in result.sources[0].rejected] == ["mismatch"]


async def test_gpu_enrolled_in_two_control_planes_is_flagged_and_counted_once(state: PullState) -> None:
    shandong, jiangsu = _two_sources()
    jiangsu.certify("js-2", ["GPU-2", "GPU-7"])
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    (duplicate,) = result.duplicates
    assert duplicate.sources == ["sd", "js"] and duplicate.kept_source == "sd"
    assert duplicate.nodes == ["js-2", "sd-1"]
    assert result.excluded_certificates == 1
    assert result.nodes_by_province == {"CN-SD": 2, "CN-JS": 1}


async def test_incremental_pull_applies_only_new_events(state: PullState) -> None:
    shandong, _ = _two_sources()
    await pull_clients(state, [("sd", shandong)], NOW)
    shandong.page_requests = 0
    shandong.add_event("revoked", "sd-2-1", "sd-2", reason="heard_recently: silent")
    shandong.certify("sd-4", ["GPU-4"])
    result = await pull_clients(state, [("sd", shandong)], NOW)
    report = result.sources[0]
    assert (report.issued, report.revoked, report.held) == (1, 1, 2)
    assert shandong.page_requests == 1
    assert result.total.accelerators == {"H100": 3}


async def test_renewed_certificate_replaces_the_old_one_of_the_node(state: PullState) -> None:
    shandong, _ = _two_sources()
    shandong.certify("sd-1", ["GPU-1"])
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert result.sources[0].held == 2 and result.total.accelerators == {"H100": 1}


async def test_key_rotation_keeps_old_certificates_and_drops_them_when_unpublished(state: PullState) -> None:
    shandong, _ = _two_sources()
    await pull_clients(state, [("sd", shandong)], NOW)
    shandong.keys = signing.rotate(shandong.keys, NOW, timedelta(hours=24))
    shandong.certify("sd-5", ["GPU-5"])
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert result.sources[0].held == 3 and result.sources[0].rejected == []
    shandong.keys = [k for k in shandong.keys if k.retired_at is None]
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert result.sources[0].dropped_unpublished == 2 and result.sources[0].held == 1


async def test_expired_certificate_is_skipped(state: PullState) -> None:
    shandong, _ = _two_sources()
    shandong.certify("sd-6", ["GPU-6"], validity=timedelta(seconds=-10))
    result = await pull_clients(state, [("sd", shandong)], NOW)
    assert result.sources[0].expired == 1 and result.nodes_by_province == {"CN-SD": 2}


async def test_certificate_expiring_after_pull_leaves_the_totals(state: PullState) -> None:
    shandong, _ = _two_sources()
    await pull_clients(state, [("sd", shandong)], NOW)
    result = await pull_clients(state, [("sd", shandong)], NOW + timedelta(hours=25))
    assert result.nodes_by_province == {}


async def test_forged_summary_fails_the_source_and_others_still_count(state: PullState) -> None:
    shandong, jiangsu = _two_sources()
    shandong.summary_token = signing.sign_jwt({"iss": "https://cp.sd", "summary": {}}, signing.generate_signing_key(NOW))
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    assert "summary cannot be verified" in result.failed["sd"]
    assert result.nodes_by_province == {"CN-JS": 1}


async def test_issuer_is_pinned_after_the_first_pull(state: PullState) -> None:
    shandong, _ = _two_sources()
    await pull_clients(state, [("sd", shandong)], NOW)
    shandong.issuer = "https://evil.example"
    with pytest.raises(sync.SourceError, match="issuer changed"):
        await sync.sync_source(state, "sd", shandong, NOW)


async def test_multi_page_pull_verifies_in_worker_processes(state: PullState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync, "PAGE_LIMIT", 4)
    shandong = SignedFeed("https://cp.sd", "CN-SD", NOW)
    for index in range(13):
        shandong.certify(f"sd-{index}", [f"GPU-{index}"])
    shandong.tamper_page = tamper_in_transit("sd-5")
    shandong.add_event("revoked", "sd-0-0", "sd-0", reason="test")
    report = await sync.sync_source(state, "sd", shandong, NOW, workers=2)
    assert shandong.page_requests == 4
    assert (report.issued, report.revoked, report.held) == (12, 1, 11)
    assert [(r.node_id, r.code) for r in report.rejected] == [("sd-5", "bad_signature")]


async def test_duplicate_is_no_longer_flagged_once_one_holder_is_revoked(state: PullState) -> None:
    shandong, jiangsu = _two_sources()
    second = jiangsu.certify("js-2", ["GPU-2"])
    assert len((await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)).duplicates) == 1
    jiangsu.add_event("revoked", second.jti, "js-2", reason="test")
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    assert result.duplicates == [] and result.excluded_certificates == 0
    assert state.duplicate_candidates() == []


async def test_state_from_before_the_candidate_table_finds_its_duplicates(tmp_path: Path) -> None:
    shandong, jiangsu = _two_sources()
    jiangsu.certify("js-2", ["GPU-1"])
    first = PullState(tmp_path / "old.db")
    await pull_clients(first, [("sd", shandong), ("js", jiangsu)], NOW)
    first.connection.execute("DROP TABLE duplicate_candidates")
    first.close()
    reopened = PullState(tmp_path / "old.db")
    result = await pull_clients(reopened, [("sd", shandong), ("js", jiangsu)], NOW)
    assert [d.nodes for d in result.duplicates] == [["js-2", "sd-1"]]


async def test_feed_page_with_an_unknown_event_kind_fails_the_source_only(state: PullState) -> None:
    shandong, jiangsu = _two_sources()
    jiangsu.add_event("renamed", "js-1-0", "js-1")
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    assert list(result.failed) == ["js"] and "contract" in result.failed["js"]
    assert result.nodes_by_province == {"CN-SD": 2}


def _has_hash_index(state: PullState) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'hardware_hash'"
    return state.connection.execute(query).fetchone() is not None


async def test_hash_index_exists_only_while_a_second_source_is_held(
    state: PullState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One source alone cannot share a hash with another: its syncs neither build nor keep the
    index. The first sync of a second source builds it before storing, and finds the duplicate."""
    monkeypatch.setattr(sync, "PAGE_LIMIT", 2)
    shandong, jiangsu = _two_sources()
    shandong.certify("sd-3", ["GPU-3"])
    shandong.tamper_page = lambda page: page.update(page_token=None) if page["next_cursor"] == "3" else None
    failed = await pull_clients(state, [("sd", shandong)], NOW)
    assert "no page signature" in failed.failed["sd"] and state.count("sd") == 0  # nothing committed yet
    shandong.tamper_page = None
    assert (await pull_clients(state, [("sd", shandong)], NOW)).failed == {}
    assert state.count("sd") == 3 and not _has_hash_index(state)
    jiangsu.certify("js-2", ["GPU-3"])
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    assert _has_hash_index(state)
    assert [d.nodes for d in result.duplicates] == [["js-2", "sd-3"]]
    jiangsu.certify("js-3", ["GPU-1"])  # another hash sd holds, arriving in a later sync
    result = await pull_clients(state, [("sd", shandong), ("js", jiangsu)], NOW)
    assert [d.nodes for d in result.duplicates] == [["js-2", "sd-3"], ["js-3", "sd-1"]]


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_cycle_collector_is_paused_and_the_switch_interval_shorter_during_a_sync(state: PullState, enabled: bool) -> None:
    shandong, _ = _two_sources()
    seen: list[tuple[bool, float]] = []
    certificates = shandong.certificates

    async def page(cursor: str, limit: int) -> dict[str, Any]:
        seen.append((gc.isenabled(), sys.getswitchinterval()))
        return await certificates(cursor, limit)

    shandong.certificates = page  # type: ignore[method-assign]
    (gc.enable if enabled else gc.disable)()
    interval_s = sys.getswitchinterval()
    try:
        await sync.sync_source(state, "sd", shandong, NOW)
        assert gc.isenabled() is enabled and sys.getswitchinterval() == interval_s
        assert seen == [(False, min(interval_s, sync.GIL_SWITCH_INTERVAL_S))] and sync.GIL_SWITCH_INTERVAL_S < 0.005
    finally:
        gc.enable()


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 0), (3, 0), (4, 2), (16, 14)])
def test_pages_are_checked_inline_below_four_cores_and_by_the_spare_cores_above(cpus: int, workers: int) -> None:
    assert sync.default_workers(cpus) == workers
