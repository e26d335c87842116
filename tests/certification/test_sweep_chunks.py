"""A sweep written a chunk of nodes per transaction decides as one pass does, and one cut off between
chunks leaves every node either fully swept or untouched, and is finished by the next sweep."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from suanli.controlplane.certification import store
from suanli.controlplane.certification.sweep import SweepStats, run_sweep
from suanli.controlplane.certification.tables import certificate_events, certificates, certification_status
from suanli.schema import utc_now
from tests.certification.conftest import Plane, inventory


async def _mixed_fleet(plane: Plane) -> None:
    """Certified, degraded by ECC errors, in an unregistered rack, and two sharing GPU UUIDs."""
    await plane.rack("R01", 10.0)
    for inv, usage in (
        (inventory("gpu-ok"), None),
        (inventory("gpu-ecc", gpus=4), [{"index": 2, "ecc_uncorrected_errors": 3}]),
        (inventory("gpu-rack", rack="R99"), None),
        (inventory("gpu-twin-1", gpu_prefix="twin"), None),
        (inventory("gpu-twin-2", gpu_prefix="twin"), None),
        (inventory("gpu-ok-2"), None),
    ):
        node_id, headers = await plane.enroll(inv)
        await plane.report_usage(node_id, headers, usage)


async def _sweep(plane: Plane, now: datetime, chunk_nodes: int) -> SweepStats:
    settings = plane.service.settings
    return await run_sweep(plane.engine, settings, plane.service.issuer, now, chunk_nodes=chunk_nodes)


async def _stored(plane: Plane) -> tuple[dict, dict]:
    """Verdicts by node, and the live certificates (id, fingerprint, capacity) by node."""
    async with plane.engine.connect() as connection:
        verdicts = {
            row.node_id: (row.certified, json.loads(row.failures), json.loads(row.excluded_accelerators))
            for row in await connection.execute(select(certification_status))
        }
        live = {
            row.node_id: (row.id, row.fingerprint, json.loads(row.capacity))
            for row in await connection.execute(select(certificates).where(certificates.c.revoked_at.is_(None)))
        }
    return verdicts, live


async def test_a_sweep_in_chunks_of_one_node_decides_as_one_pass(plane: Plane) -> None:
    await _mixed_fleet(plane)
    now = utc_now()
    chunked = await _sweep(plane, now, chunk_nodes=1)
    assert (chunked.nodes, chunked.certified, chunked.issued, len(chunked.quarantined)) == (6, 3, 3, 2)
    verdicts, live = await _stored(plane)
    assert len(verdicts) == 6 and {v[0] for v in verdicts.values()} == {True, False}
    assert sorted(v[2] for v in verdicts.values() if v[2]) == [[2]]

    # One pass over the same facts finds every certificate current and every verdict the same.
    whole = await _sweep(plane, now, chunk_nodes=10_000)
    assert (whole.certified, whole.issued, whole.renewed, whole.revoked) == (3, 0, 0, 0)
    assert await _stored(plane) == (verdicts, live)


async def test_a_sweep_cut_off_between_chunks_is_finished_by_the_next(plane: Plane, monkeypatch: pytest.MonkeyPatch) -> None:
    await plane.rack("R01", 10.0)
    for name in ("gpu-1", "gpu-2", "gpu-3"):
        node_id, headers = await plane.enroll(inventory(name))
        await plane.report_usage(node_id, headers)
    original = store.apply_changes
    writes: list[int] = []

    async def dies_on_the_second_chunk(*args: object) -> None:
        writes.append(1)
        if len(writes) == 2:
            raise ConnectionError("control plane lost its database")
        await original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "apply_changes", dies_on_the_second_chunk)
    now = utc_now()
    with pytest.raises(ConnectionError):
        await _sweep(plane, now, chunk_nodes=1)
    verdicts, live = await _stored(plane)
    # The first chunk's certificate and verdict landed together; nothing of the others did.
    assert len(verdicts) == 1 and set(live) == set(verdicts)

    monkeypatch.setattr(store, "apply_changes", original)
    finished = await _sweep(plane, now, chunk_nodes=1)
    assert (finished.certified, finished.issued, finished.renewed, finished.revoked) == (3, 2, 0, 0)
    verdicts_after, live_after = await _stored(plane)
    assert len(verdicts_after) == 3 and len(live_after) == 3
    assert all(live_after[node_id] == live[node_id] for node_id in live)  # the first one was kept, not re-issued
    async with plane.engine.connect() as connection:
        kinds = [row.kind for row in await connection.execute(select(certificate_events.c.kind))]
    assert kinds == ["issued"] * 3


async def test_a_sweep_that_loses_its_lease_stops_before_its_next_chunk(plane: Plane) -> None:
    await _mixed_fleet(plane)
    calls = 0

    async def lease_lost_after_two_chunks() -> bool:
        nonlocal calls
        calls += 1
        return calls < 2

    stats = await run_sweep(plane.engine, plane.service.settings, plane.service.issuer, utc_now(),
                            chunk_nodes=1, keep_lease=lease_lost_after_two_chunks)
    assert stats.stopped_at == 2 and calls == 2
    verdicts, _ = await _stored(plane)
    assert len(verdicts) == 2  # two chunks written, the other four nodes left to the lease holder
    finished = await _sweep(plane, utc_now(), chunk_nodes=1)
    assert finished.stopped_at is None
    assert len((await _stored(plane))[0]) == 6
