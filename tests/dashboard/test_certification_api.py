"""`GET /v1/certification`: verdicts with failing checks, quarantined and stale nodes first, paged stably."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from suanli.controlplane.certification.service import CERTIFICATION
from suanli.controlplane.store.tables import nodes
from suanli.schema import utc_now
from tests.controlplane.factories import batch_json, inventory, inventory_report, usage_report


async def _node(client: Any, helper: Any, hostname: str, datacenter: str = "dc-jinan-1") -> str:
    inv = inventory(hostname=hostname, datacenter=datacenter, gpus=1)
    node_id, headers = await helper.enroll(inv)
    response = await client.post("/v1/reports", data=batch_json(inventory_report(node_id, 1, inv), usage_report(node_id, 2)),
                                 headers={**headers, "Content-Type": "application/json"})
    assert response.status == 200
    return node_id


async def _set(helper: Any, node_id: str, **values: Any) -> None:
    async with helper.engine.begin() as connection:
        await connection.execute(update(nodes).where(nodes.c.id == node_id).values(**values))


async def test_problems_come_first_with_their_failing_checks(client, helper) -> None:
    quiet = await _node(client, helper, "gpu-quiet")
    fine = await _node(client, helper, "gpu-fine")
    held = await _node(client, helper, "gpu-held", datacenter="dc-nanjing-1")
    await _set(helper, held, status="quarantined", status_reason="duplicate identity")
    await _set(helper, quiet, last_seen_at=utc_now() - timedelta(hours=2))
    headers = await helper.key()
    before = await (await client.get("/v1/certification", headers=headers)).json()
    assert before["counts"] == {"certified": 0, "uncertified": 0, "unevaluated": 3, "stale": 1, "quarantined": 1}
    await client.app[CERTIFICATION].sweep_if_leader()
    body = await (await client.get("/v1/certification", headers=headers)).json()
    assert [n["node_id"] for n in body["nodes"]] == [held, quiet, fine]
    first, second, third = body["nodes"]
    assert first["status"] == "quarantined" and first["status_reason"] == "duplicate identity"
    assert first["failures"]["enrolled_not_revoked"] == "node status is quarantined, not active"
    assert second["stale"] and "heard_recently" in second["failures"] and not third["stale"]
    assert third["state"] == "uncertified" and "located_in_registered_rack" in third["failures"]
    assert body["counts"]["uncertified"] == 3 and body["counts"]["unevaluated"] == 0


async def test_filters_and_pages_keep_one_order(client, helper) -> None:
    made = sorted([await _node(client, helper, f"gpu-{i}") for i in range(5)])
    await _node(client, helper, "gpu-other", datacenter="dc-nanjing-1")
    headers = await helper.key()
    seen: list[str] = []
    cursor = None
    while True:
        query = {"datacenter": "dc-jinan-1", "limit": "2", **({"cursor": cursor} if cursor else {})}
        body = await (await client.get("/v1/certification", params=query, headers=headers)).json()
        seen += [n["node_id"] for n in body["nodes"]]
        assert body["counts"]["unevaluated"] == 5
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    only = await (await client.get("/v1/certification", params={"state": "certified"}, headers=headers)).json()
    assert only["nodes"] == []


async def test_bad_queries_are_400_with_a_code(client, helper) -> None:
    headers = await helper.key()
    for query in ({"state": "golden"}, {"limit": "0"}, {"status": "happy"}, {"colour": "red"}):
        response = await client.get("/v1/certification", params=query, headers=headers)
        assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_query", query
    response = await client.get("/v1/certification", params={"cursor": "nonsense"}, headers=headers)
    assert (await response.json())["error"]["code"] == "invalid_cursor"
    assert (await client.get("/v1/certification", headers=await helper.key("national"))).status == 403
