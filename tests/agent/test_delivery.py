"""Delivery against an in-process control plane: acks, Retry-After, 5xx, 422 with and without index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from conftest import free_tcp_port
from fakes.control_plane import CREDENTIAL, NODE_ID, FakeControlPlane, Scripted, error_body

from suanli.agent.backoff import Backoff
from suanli.agent.delivery import Delivery, Outcome, batch_json, failing_index
from suanli.agent.spool import Spool
from suanli.agent.transport import HttpClient
from suanli.schema import ReportBatch

WHEN = "2026-11-21T08:00:00+00:00"
USAGE = '{"cpu_percent":12.5}'


class Clock:
    """A monotonic clock the test moves by hand, so backoff is checked without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server(plane: FakeControlPlane) -> AsyncIterator[TestServer]:
    test_server = TestServer(plane.app(), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path, max_bytes=10**9, max_reports=10**6)


@pytest.fixture
async def make_delivery(spool: Spool) -> AsyncIterator[Callable[..., Delivery]]:
    clock = Clock()
    clients: list[HttpClient] = []

    def make(url: str, batch_max_reports: int = 200) -> Delivery:
        backoff = Backoff(base_s=1.0, cap_s=60.0, clock=clock, rng=lambda: 0.0)
        clients.append(HttpClient(url, request_timeout_s=5.0))
        delivery = Delivery(spool, clients[-1], NODE_ID, CREDENTIAL, batch_max_reports, backoff)
        delivery.clock = clock  # type: ignore[attr-defined]  (tests move time through it)
        return delivery

    yield make
    for client in clients:
        client.close()


def fill(spool: Spool, count: int, kind: str = "usage") -> list[int]:
    return [spool.append(kind, USAGE if kind == "usage" else '{"host":{"hostname":"n"}}', WHEN) for _ in range(count)]


def url_of(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


async def test_drains_oldest_first_in_batches_with_bearer_credential(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    seqs = fill(spool, 450)
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.DELIVERED
    assert [len(b) for b in plane.received_batches] == [200, 200, 50]
    assert [s for b in plane.received_batches for s in b] == seqs
    assert sorted(plane.stored) == seqs
    assert spool.depth() == 0
    assert set(plane.authorization_seen) == {f"Bearer {CREDENTIAL}"}
    assert plane.stored[1]["node_id"] == NODE_ID and plane.stored[1]["schema"] == "v1"


async def test_nothing_to_send_is_idle(server: TestServer, make_delivery: Callable[..., Delivery]) -> None:
    assert await make_delivery(url_of(server)).drain() is Outcome.IDLE


async def test_only_acknowledged_seqs_leave_the_spool(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 3)
    plane.script.append(Scripted(200, {"accepted": [1], "duplicates": [3, 77]}))
    delivery = make_delivery(url_of(server))
    await delivery.drain()
    assert plane.received_batches[0] == [1, 2, 3]
    assert plane.received_batches[1] == [2]  # the unacknowledged one is sent again
    assert spool.depth() == 0


async def test_429_retry_after_is_honoured_and_nothing_is_deleted(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 5)
    plane.script.append(Scripted(429, error_body("rate_limited", "slow down"), {"Retry-After": "7"}))
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.FAILED
    assert spool.depth() == 5
    assert delivery.backoff.remaining_s() == pytest.approx(7.0)
    delivery.clock.now += 6.9  # type: ignore[attr-defined]
    assert await delivery.drain() is Outcome.WAITING
    assert len(plane.received_batches) == 1  # no request while waiting
    delivery.clock.now += 0.2  # type: ignore[attr-defined]
    assert await delivery.drain() is Outcome.DELIVERED
    assert sorted(plane.stored) == [1, 2, 3, 4, 5]


async def test_503_backs_off_exponentially_then_recovers(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 2)
    delivery = make_delivery(url_of(server))
    delays = []
    for _ in range(4):
        plane.script.append(Scripted(503, error_body("unavailable", "db down")))
        assert await delivery.drain() is Outcome.FAILED
        delays.append(delivery.backoff.remaining_s())
        delivery.clock.now += delays[-1]  # type: ignore[attr-defined]
    assert delays == [0.5, 1.0, 2.0, 4.0]  # base 1 s doubling, jitter factor 0.5 with rng=0
    assert spool.depth() == 2
    assert await delivery.drain() is Outcome.DELIVERED
    assert delivery.backoff.failures == 0
    assert delivery.state.last_error == "HTTP 503"


async def test_422_naming_an_index_sets_that_report_aside_and_delivers_the_rest(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 10)
    plane.rejected_seqs = {4}
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.DELIVERED
    assert sorted(plane.stored) == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert spool.depth() == 0
    assert spool.stats().rejected == 1
    assert delivery.state.set_aside_total == 1


async def test_422_without_index_bisects_until_the_bad_report_is_alone(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 16)
    plane.rejected_seqs = {11}
    plane.name_index = False
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.DELIVERED
    assert sorted(plane.stored) == [s for s in range(1, 17) if s != 11]
    assert spool.stats().rejected == 1
    assert [1, 2, 3, 4, 5, 6, 7, 8] in plane.received_batches


async def test_413_halves_the_batch(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 8)
    plane.script.append(Scripted(413, error_body("body_too_large", "too large")))
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.DELIVERED
    assert [len(b) for b in plane.received_batches[:2]] == [8, 4]
    assert sorted(plane.stored) == list(range(1, 9))
    assert spool.stats().rejected == 0


async def test_401_keeps_every_report_and_backs_off(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 3)
    plane.script.append(Scripted(401, error_body("unauthorized", "credential revoked")))
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.FAILED
    assert spool.depth() == 3 and spool.stats().rejected == 0
    assert delivery.state.last_error == "HTTP 401: unauthorized"


async def test_connection_refused_backs_off_and_keeps_reports(
    spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 3)
    delivery = make_delivery(f"http://127.0.0.1:{free_tcp_port()}")
    assert await delivery.drain() is Outcome.FAILED
    assert await delivery.drain() is Outcome.WAITING
    assert delivery.backoff.failures == 1
    assert "ConnectionRefusedError" in (delivery.state.last_error or "")
    assert spool.depth() == 3


async def test_garbled_ack_is_a_failure_not_a_deletion(
    plane: FakeControlPlane, server: TestServer, spool: Spool, make_delivery: Callable[..., Delivery]
) -> None:
    fill(spool, 2)
    plane.script.append(Scripted(200, {"ok": True}))
    delivery = make_delivery(url_of(server))
    assert await delivery.drain() is Outcome.FAILED
    assert spool.depth() == 2


def test_batch_json_passes_the_contract(spool: Spool) -> None:
    fill(spool, 1, "inventory")
    fill(spool, 1)
    batch = ReportBatch.model_validate_json(batch_json(NODE_ID, spool.pending(10)))
    assert [(r.seq, r.kind) for r in batch.reports] == [(1, "inventory"), (2, "usage")]
    assert batch.reports[1].sent_at.isoformat() == WHEN


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ({"errors": [{"loc": ["reports", 3, "body"], "index": 3}]}, 3),
        ({"errors": [{"loc": ["reports", 2, "body", "cpu_percent"]}]}, 2),
        ({"index": 1}, 1),
        ({"path": "reports[4].body"}, 4),
        ({"errors": [{"loc": ["reports", 9]}]}, None),  # outside the batch
        ({"errors": [{"loc": ["body"]}]}, None),
        ("bad", None),
        (None, None),
    ],
)
def test_failing_index(detail: Any, expected: int | None) -> None:
    assert failing_index(detail, 5) == expected
