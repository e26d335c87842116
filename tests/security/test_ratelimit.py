"""Rate limits: token buckets per node and per key, 429 with Retry-After, and the real agent delivery obeying it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from suanli.agent.backoff import Backoff
from suanli.agent.delivery import Delivery, Outcome
from suanli.agent.spool import Spool
from suanli.agent.transport import HttpClient
from suanli.controlplane.ratelimit import Rate, TokenBuckets
from suanli.schema import utc_now

from .conftest import Callers
from .counts import record


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    rate = Rate(per_s=2.0, burst=3)
    assert [buckets.take("n", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("n", rate) == pytest.approx(0.5)  # one token comes back every 0.5 s
    clock.now += 0.5
    assert buckets.take("n", rate) == 0.0
    assert buckets.take("other", rate) == 0.0  # buckets are per name
    clock.now += 100
    assert [buckets.take("n", rate) for _ in range(4)][-1] > 0  # refill stops at the burst


def test_a_disabled_rate_never_refuses() -> None:
    buckets = TokenBuckets(Clock())
    assert all(buckets.take("n", Rate(per_s=0, burst=1)) == 0.0 for _ in range(1000))


def usage_batch(node_id: str, seq: int) -> str:
    report = {"schema": "v1", "node_id": node_id, "seq": seq, "sent_at": utc_now().isoformat(), "kind": "usage",
              "body": {"cpu_percent": 5.0}}
    return json.dumps({"reports": [report]})


async def _refused(response: aiohttp.ClientResponse, scope: str) -> None:
    assert response.status == 429
    body = await response.json()
    assert body["error"]["code"] == "rate_limited" and body["error"]["detail"]["scope"] == scope
    assert int(response.headers["Retry-After"]) >= 1
    record("rate_limit_refusals")


async def test_each_node_has_its_own_bucket(make_client: Callable[..., Any]) -> None:
    client = await make_client(rate_limit_node_per_s=0.01, rate_limit_node_burst=3)
    callers = Callers(client)
    a, b = await callers.enroll("gpu-a"), await callers.enroll("gpu-b")
    for seq in (1, 2, 3):
        assert (await client.post("/v1/reports", data=usage_batch(a.node_id, seq), headers=a.headers)).status == 200
    refused = await client.post("/v1/reports", data=usage_batch(a.node_id, 4), headers=a.headers)
    await _refused(refused, "node")
    assert int(refused.headers["Retry-After"]) == 100  # one token at 0.01/s
    assert (await client.post("/v1/reports", data=usage_batch(b.node_id, 1), headers=b.headers)).status == 200
    operator = {"Authorization": f"Bearer {await callers.key('operator')}"}
    history = await (await client.get(f"/v1/nodes/{a.node_id}/usage", headers=operator)).json()
    assert [point["seq"] for point in history["points"]] == [1, 2, 3]  # the refused batch was not stored


async def test_each_api_key_has_its_own_bucket(make_client: Callable[..., Any]) -> None:
    client = await make_client(rate_limit_key_per_s=0.01, rate_limit_key_burst=2)
    callers = Callers(client)
    first = {"Authorization": f"Bearer {await callers.key('operator')}"}
    second = {"Authorization": f"Bearer {await callers.key('operator')}"}
    assert [(await client.get("/v1/nodes", headers=first)).status for _ in range(2)] == [200, 200]
    await _refused(await client.get("/v1/nodes", headers=first), "key")
    assert (await client.get("/v1/nodes", headers=second)).status == 200
    assert (await client.get("/healthz", headers=first)).status == 200  # probes are never limited


async def test_an_address_guessing_secrets_is_slowed_whatever_it_tries_next(make_client: Callable[..., Any]) -> None:
    client = await make_client(rate_limit_auth_failures_per_s=0.01, rate_limit_auth_failures_burst=5)
    for attempt in range(5):
        guess = {"Authorization": f"Bearer slk_guess{attempt:040d}"}
        assert (await client.get("/v1/nodes", headers=guess)).status == 401
    await _refused(await client.get("/v1/nodes", headers={"Authorization": "Bearer slk_another"}),
                   "authentication_failures")


async def test_the_agent_delivery_honours_retry_after(make_client: Callable[..., Any], tmp_path: Path) -> None:
    """The real agent's Delivery: a 429 deletes nothing, and no retry comes before Retry-After has passed."""
    client = await make_client(rate_limit_node_per_s=0.05, rate_limit_node_burst=1)
    node = await Callers(client).enroll("gpu-a")
    spool = Spool(tmp_path, max_bytes=10**8, max_reports=10**5)
    for _ in range(3):
        spool.append("usage", '{"cpu_percent": 7.5}', utc_now().isoformat())
    clock = Clock()
    client_http = HttpClient(str(client.make_url("/")), request_timeout_s=10.0)
    delivery = Delivery(spool, client_http, node.node_id, node.credential, batch_max_reports=1,
                        backoff=Backoff(base_s=1.0, cap_s=60.0, clock=clock, rng=lambda: 0.0))
    try:
        assert await delivery.drain() is Outcome.FAILED  # the first batch passed, the second met the 429
        record("rate_limit_refusals")
        assert spool.depth() == 2 and delivery.state.acked_total == 1
        assert "429" in (delivery.state.last_error or "")
        assert delivery.backoff.remaining_s() >= 20.0  # Retry-After: 20 s at 0.05 tokens/s
        clock.now += 19.0
        assert await delivery.drain() is Outcome.WAITING  # still inside Retry-After: no request sent
        assert spool.depth() == 2
    finally:
        client_http.close()
