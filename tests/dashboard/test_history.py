"""The utilisation history behind the fleet chart: samples follow the live aggregates, the ring stays bounded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.dashboard.history import HISTORY, UtilisationHistory
from tests.controlplane.factories import batch_json, inventory, inventory_report, usage, usage_report


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'suanli.db'}"


async def _report(client: Any, helper: Any, gpu_utilization: tuple[float, ...]) -> None:
    inv = inventory(hostname="gpu-h1", gpus=len(gpu_utilization))
    node_id, headers = await helper.enroll(inv)
    batch = batch_json(inventory_report(node_id, 1, inv), usage_report(node_id, 2, usage(gpu_utilization)))
    response = await client.post("/v1/reports", data=batch, headers={**headers, "Content-Type": "application/json"})
    assert response.status == 200


async def test_a_sample_counts_accelerators_in_use_by_model(client, helper) -> None:
    await _report(client, helper, (90.0, 80.0, 1.0, 0.0))
    history = UtilisationHistory(max_samples=3)
    sample = await history.sample(client.app[ENGINE])
    assert (sample.nodes, sample.accelerators_total, sample.accelerators_in_use) == (1, 4, 2)
    assert list(sample.models.values()) == [(4, 2)]
    for _ in range(5):
        await history.sample(client.app[ENGINE])
    assert len(history.samples) == 3


async def test_the_endpoint_serves_the_app_samples(client, helper) -> None:
    await _report(client, helper, (50.0, 50.0))
    await client.app[HISTORY].sample(client.app[ENGINE])
    body = await (await client.get("/dashboard/utilisation", headers=await helper.key())).json()
    assert body["interval_s"] == 60.0
    last = body["samples"][-1]
    assert (last["accelerators_total"], last["accelerators_in_use"]) == (2, 2)
    assert (await client.get("/dashboard/utilisation")).status == 401
