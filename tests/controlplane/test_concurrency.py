"""50 agents posting at once: nothing lost, nothing doubled, aggregates equal to a recount."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import func, select

from suanli.controlplane.store.tables import usage_history

from .factories import batch_json, inventory, inventory_report, usage, usage_report
from .recount import mismatches, network_mismatches, recount, stored_totals

AGENTS = 50
ROUNDS = 4


async def _agent(client, node_id: str, headers: dict, index: int) -> tuple[set[int], set[int]]:  # noqa: ANN001
    """Post rounds of batches, each round redelivered once (as after a lost answer)."""
    rng = random.Random(index)
    accepted: set[int] = set()
    duplicates: set[int] = set()
    for round_ in range(ROUNDS):
        seq0 = round_ * 3 + 1
        reports = [usage_report(node_id, seq0, usage(tuple(rng.choice((0.0, 90.0)) for _ in range(4))))]
        reports.append(usage_report(node_id, seq0 + 1, usage(tuple(rng.choice((0.0, 90.0)) for _ in range(4)))))
        # Racks, models and network sources change too, so sources are mounted and left concurrently.
        nfs = ((f"nas{rng.randint(1, 3)}:/export", rng.choice((400, 500)) * 10**12),)
        inv = inventory(hostname=f"h{index}", rack=f"R{rng.randint(1, 5)}", gpus=rng.choice((0, 4, 8)), nfs=nfs)
        reports.append(inventory_report(node_id, seq0 + 2, inv))
        body = batch_json(*reports)
        answers = await asyncio.gather(*(client.post("/v1/reports", data=body, headers=headers) for _ in range(2)))
        for answer in answers:
            assert answer.status == 200, await answer.text()
            ack = await answer.json()
            assert not accepted & set(ack["accepted"]), "a seq was accepted twice"
            accepted |= set(ack["accepted"])
            duplicates |= set(ack["duplicates"])
    return accepted, duplicates


async def test_fifty_agents_at_once(client, helper) -> None:
    token = await helper.token(uses=AGENTS)
    nodes = [await helper.enroll(inventory(hostname=f"h{i}", gpus=4), token) for i in range(AGENTS)]
    results = await asyncio.gather(*(_agent(client, n, h, i) for i, (n, h) in enumerate(nodes)))
    expected = set(range(1, ROUNDS * 3 + 1))
    for accepted, duplicates in results:
        assert accepted == expected and duplicates == expected
    async with helper.engine.connect() as connection:
        stored = (await connection.execute(select(func.count()).select_from(usage_history))).scalar_one()
    assert stored == AGENTS * ROUNDS * 2
    assert mismatches(await recount(helper.engine), *await stored_totals(helper.engine)) == []
    assert await network_mismatches(helper.engine) == []
    body = await (await client.get("/v1/capacity", headers=await helper.key())).json()
    assert body["total"]["nodes"] == AGENTS
