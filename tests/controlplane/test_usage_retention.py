"""Usage history stays bounded: old points expire, older-than-a-day ones thin to one per interval."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from suanli.controlplane.store.tables import nodes, usage_history
from suanli.controlplane.store.usage import compact_usage

from .factories import T0, batch_json, usage_report


async def test_compaction_expires_thins_and_keeps_redelivery_idempotent(client, helper) -> None:
    node_id, headers = await helper.enroll()
    # seq n is sent at T0 + 30 s × n: seqs 1..60 cover 30 minutes.
    await client.post("/v1/reports", data=batch_json(*(usage_report(node_id, s) for s in range(1, 61))), headers=headers)
    now = T0 + timedelta(days=2)
    result = await compact_usage(
        helper.engine, now, retention=timedelta(days=2) - timedelta(minutes=10),
        full_resolution=timedelta(days=1), interval_s=900,
    )
    async with helper.engine.connect() as connection:
        kept = (await connection.execute(
            select(usage_history.c.seq, usage_history.c.downsampled).order_by(usage_history.c.seq)
        )).all()
        compacted_seq = (await connection.execute(select(nodes.c.compacted_seq))).scalar_one()
    # Points before T0+10min expired (seqs 1..19); the rest thinned to the first of each 15-min bucket.
    assert result.expired == 19
    assert [row.seq for row in kept] == [20, 30, 60] and all(row.downsampled for row in kept)
    assert compacted_seq == 59
    again = await client.post("/v1/reports", data=batch_json(usage_report(node_id, 25), usage_report(node_id, 61)),
                              headers=headers)
    assert await again.json() == {"accepted": [61], "duplicates": [25]}


async def test_one_process_at_a_time_runs_maintenance(client, helper) -> None:
    from suanli.controlplane.maintenance import maintain_once

    first = await maintain_once(client.app, "host-a:1")
    second = await maintain_once(client.app, "host-b:2")
    assert first is not None and second is None  # b waits while a holds the lease
    assert await maintain_once(client.app, "host-a:1") is not None
