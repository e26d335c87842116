"""The sweep certifies, degrades, quarantines and revokes nodes of a real control plane, on both stores."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from suanli.controlplane.certification.tables import certification_status
from suanli.controlplane.signing import JwksVerifier
from suanli.controlplane.store.tables import nodes
from suanli.schema import utc_now
from tests.certification.conftest import Plane, inventory


async def _feed(plane: Plane, headers: dict[str, str]) -> list[dict]:
    response = await plane.client.get("/national/v1/certificates", headers=headers)
    assert response.status == 200, await response.text()
    return (await response.json())["events"]


async def _verifier(plane: Plane) -> JwksVerifier:
    return JwksVerifier(await (await plane.client.get("/.well-known/jwks.json")).json(), issuer="https://cp.test")


async def test_node_is_certified_then_loses_its_certificate_when_silent(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    node_id, headers = await plane.enroll(inventory("gpu-1"))
    await plane.report_usage(node_id, headers)
    stats = await plane.service.sweep_if_leader()
    assert stats is not None and (stats.certified, stats.issued) == (1, 1)
    national = await plane.key("national")
    (issued,) = await _feed(plane, national)
    claims = (await _verifier(plane)).verify(issued["token"], utc_now())
    assert claims["sub"] == node_id and claims["province"] == "CN-SD" and claims["rack"] == "R01"
    assert claims["capacity"]["accelerators"] == {"NVIDIA H100 SXM5 80GB": 2}
    assert claims["capacity"]["ports_400g"] == 1 and len(claims["hardware"]) == 4  # machine-id, 2 GPUs, 1 disk

    again = await plane.service.sweep_if_leader()
    assert again is not None and (again.issued, again.revoked) == (0, 0)

    silent = await plane.service.sweep_if_leader(utc_now() + timedelta(seconds=300))
    assert silent is not None and silent.revoked == 1
    events = await _feed(plane, national)
    assert [e["kind"] for e in events] == ["issued", "revoked"]
    assert "heard_recently" in events[1]["reason"] and events[1]["token"] is None


async def test_unregistered_rack_is_refused_with_its_reason(plane: Plane) -> None:
    node_id, headers = await plane.enroll(inventory("gpu-1", rack="R99"))
    await plane.report_usage(node_id, headers)
    stats = await plane.service.sweep_if_leader()
    assert stats is not None and stats.certified == 0
    async with plane.engine.connect() as connection:
        row = (await connection.execute(select(certification_status).where(certification_status.c.node_id == node_id))).one()
    assert not row.certified
    assert "rack R99 is not registered" in json.loads(row.failures)["located_in_registered_rack"]


async def test_gpu_with_uncorrected_errors_leaves_capacity_rest_stays(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    node_id, headers = await plane.enroll(inventory("gpu-1", gpus=4))
    await plane.report_usage(node_id, headers, [{"index": 2, "ecc_uncorrected_errors": 3}])
    await plane.service.sweep_if_leader()
    (issued,) = await _feed(plane, await plane.key("national"))
    claims = (await _verifier(plane)).verify(issued["token"], utc_now())
    assert claims["capacity"]["accelerators"] == {"NVIDIA H100 SXM5 80GB": 3}
    assert claims["excluded_accelerators"] == [2]


async def test_shared_gpu_uuid_quarantines_both_and_overwrites_nothing(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    first, first_headers = await plane.enroll(inventory("gpu-1", gpu_prefix="shared"))
    second, second_headers = await plane.enroll(inventory("gpu-2", gpu_prefix="shared"))
    for node_id, headers in ((first, first_headers), (second, second_headers)):
        await plane.report_usage(node_id, headers)
    stats = await plane.service.sweep_if_leader()
    assert stats is not None and sorted(stats.quarantined) == sorted([first, second]) and stats.issued == 0
    async with plane.engine.connect() as connection:
        rows = {r.id: r for r in await connection.execute(select(nodes.c.id, nodes.c.status, nodes.c.status_reason, nodes.c.hostname))}
    assert {rows[first].status, rows[second].status} == {"quarantined"}
    assert "accelerator_uuid shared with" in rows[first].status_reason
    assert (rows[first].hostname, rows[second].hostname) == ("gpu-1", "gpu-2")


async def test_operator_revocation_revokes_the_certificate_at_next_sweep(plane: Plane) -> None:
    from suanli.controlplane.store.nodes import set_node_status

    await plane.rack("R01", 10.0)
    node_id, headers = await plane.enroll(inventory("gpu-1"))
    await plane.report_usage(node_id, headers)
    await plane.service.sweep_if_leader()
    await set_node_status(plane.engine, node_id, "revoked", utc_now(), "test")
    stats = await plane.service.sweep_if_leader()
    assert stats is not None and stats.revoked == 1
    events = await _feed(plane, await plane.key("national"))
    assert "status is revoked" in events[-1]["reason"]


async def test_changed_inventory_renews_the_certificate_and_supersedes_the_old(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    node_id, headers = await plane.enroll(inventory("gpu-1", gpus=2))
    await plane.report_usage(node_id, headers)
    await plane.service.sweep_if_leader()
    await plane.report_inventory(node_id, headers, inventory("gpu-1", gpus=1))
    stats = await plane.service.sweep_if_leader()
    assert stats is not None and stats.renewed == 1
    events = await _feed(plane, await plane.key("national"))
    assert [e["kind"] for e in events] == ["issued", "revoked", "issued"]
    assert events[1]["certificate_id"] == events[0]["certificate_id"] and "superseded" in events[1]["reason"]
    claims = (await _verifier(plane)).verify(events[2]["token"], utc_now())
    assert claims["capacity"]["accelerators"] == {"NVIDIA H100 SXM5 80GB": 1}


async def test_unreadable_inventory_is_not_certified_and_does_not_stop_the_sweep(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    broken, _ = await plane.enroll(inventory("gpu-1"))
    good, headers = await plane.enroll(inventory("gpu-2"))
    await plane.report_usage(good, headers)
    async with plane.engine.begin() as connection:
        await connection.execute(nodes.update().where(nodes.c.id == broken).values(inventory="{}", inventory_hash="x"))
    stats = await plane.service.sweep_if_leader()
    assert stats is not None and (stats.nodes, stats.certified, stats.issued) == (2, 1, 1)
    (issued,) = await _feed(plane, await plane.key("national"))
    assert issued["node_id"] == good


async def test_summary_is_served_from_cache_while_a_fresh_one_builds(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    first = await plane.service.summary()
    node_id, headers = await plane.enroll(inventory("gpu-1"))
    await plane.report_usage(node_id, headers)
    await plane.service.sweep_if_leader()  # a sweep rebuilds at once
    after_sweep = await plane.service.summary()
    assert (first.summary.totals.nodes, after_sweep.summary.totals.nodes) == (0, 1)
    assert await plane.service.summary() is after_sweep  # within the refresh interval: the same one


async def test_summary_built_at_start_up_is_the_one_the_first_request_gets(plane: Plane) -> None:
    started = plane.service._rebuild
    assert started is not None  # start-up began building the summary
    await started
    builds: list[object] = []
    original = plane.service._rebuild_summary

    async def counted() -> object:
        builds.append(None)
        return await original()

    plane.service._rebuild_summary = counted  # type: ignore[method-assign]
    plane.service._summary = None  # as if never built: start the build again as start-up does
    plane.service.warm_summary()
    first = await plane.service.summary()  # arrives while that build runs: waits for it, builds nothing more
    assert len(builds) == 1
    assert await plane.service.summary() is first


async def test_a_process_that_lost_the_lease_drops_its_cached_digests(plane: Plane) -> None:
    from suanli.controlplane.certification.service import CertificationService

    await plane.rack("R01", 10.0)
    node_id, headers = await plane.enroll(inventory("gpu-1"))
    await plane.report_usage(node_id, headers)
    first = CertificationService(plane.engine, plane.service.settings, plane.service.issuer)
    assert await first.sweep_if_leader() is not None
    assert set(first._digests.entries) == {node_id}  # kept for its next sweep
    await first.close()  # gives the lease up, as a stopping process does
    assert await plane.service.sweep_if_leader() is not None  # another process sweeps now
    assert await first.sweep_if_leader() is None
    assert first._digests.entries == {}  # a process that does not sweep keeps nothing per node
