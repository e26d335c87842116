"""The national API: roles, the signed summary, the JWKS across rotation, the feed's paging and the sweep lease."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest

from suanli.controlplane.certification import feed_signing, keystore, lease, store
from suanli.controlplane.certification.service import CertificationService
from suanli.controlplane.certification.tables import certificate_events
from suanli.controlplane.signing import JwksVerifier
from suanli.schema import utc_now
from suanli.schema.national import Jwks, NationalSummary
from tests.certification.conftest import Plane, inventory


async def _certified_fleet(plane: Plane, count: int) -> list[str]:
    await plane.rack("R01", 10.0)
    await plane.rack("R02", 5.0)
    await plane.rack("R09", 50.0)  # registered but empty: not counted
    node_ids = []
    for index in range(count):
        node_id, headers = await plane.enroll(inventory(f"gpu-{index}", rack=f"R0{index % 2 + 1}"))
        await plane.report_usage(node_id, headers)
        node_ids.append(node_id)
    await plane.service.sweep_if_leader()
    return node_ids


@pytest.mark.parametrize(("role", "status"), [("national", 200), ("operator", 200), ("admin", 200)])
async def test_roles_that_may_read_the_feed(plane: Plane, role: str, status: int) -> None:
    response = await plane.client.get("/national/v1/certificates", headers=await plane.key(role))
    assert response.status == status


async def test_agents_and_strangers_may_not_read_the_feed(plane: Plane) -> None:
    _, node_headers = await plane.enroll(inventory("gpu-1"))
    assert (await plane.client.get("/national/v1/summary")).status == 401
    response = await plane.client.get("/national/v1/summary", headers=node_headers)
    assert response.status == 401 and (await response.json())["error"]["code"] == "invalid_api_key"
    assert (await plane.client.get("/.well-known/jwks.json")).status == 200


async def test_summary_is_signed_and_counts_certified_racks_and_nodes(plane: Plane) -> None:
    await _certified_fleet(plane, 3)
    response = await plane.client.get("/national/v1/summary", headers=await plane.key("national"))
    body = await response.json()
    jwks = await (await plane.client.get("/.well-known/jwks.json")).json()
    claims = JwksVerifier(jwks, issuer="https://cp.test").verify(body["token"], utc_now())
    summary = NationalSummary.model_validate(claims["summary"])
    assert summary == NationalSummary.model_validate(body["summary"])
    (group,) = summary.groups
    assert (group.province, group.datacenter, group.nodes, group.racks) == ("CN-SD", "dc-jinan", 3, 2)
    assert group.rated_kw == 15.0 and group.standard_racks == 6.0
    assert group.capacity.accelerators == {"NVIDIA H100 SXM5 80GB": 6}
    assert summary.totals.capacity.flops.fp16 == group.capacity.flops.fp16 > 0
    assert summary.totals.capacity.flops.fp64 > 0 and summary.totals.capacity.flops.fp32 > summary.totals.capacity.flops.fp64


async def test_feed_pages_cover_every_event_once_and_bad_cursor_is_refused(plane: Plane) -> None:
    await _certified_fleet(plane, 5)
    headers = await plane.key("national")
    seen, cursor = [], ""
    while True:
        response = await plane.client.get("/national/v1/certificates", params={"cursor": cursor, "limit": "2"}, headers=headers)
        page = await response.json()
        seen += [e["event_id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == sorted(set(seen)) and len(seen) == 5
    empty = await (await plane.client.get("/national/v1/certificates", params={"cursor": cursor}, headers=headers)).json()
    assert empty["events"] == [] and empty["next_cursor"] == cursor
    bad = await plane.client.get("/national/v1/certificates", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_cursor"
    too_many = await plane.client.get("/national/v1/certificates", params={"limit": "999999"}, headers=headers)
    assert too_many.status == 400


async def test_feed_pages_are_signed_over_their_events_and_token_digests(plane: Plane) -> None:
    await _certified_fleet(plane, 3)
    headers = await plane.key("national")
    jwks = await (await plane.client.get("/.well-known/jwks.json")).json()
    verifier = JwksVerifier(jwks)
    first = await (await plane.client.get("/national/v1/certificates", params={"limit": "2"}, headers=headers)).json()
    digests = feed_signing.verified_page_digests(verifier, "https://cp.test", "", first)
    assert digests == [feed_signing.token_sha256(e["token"]) for e in first["events"]] and len(digests) == 2
    cursor = first["next_cursor"]
    second = await (await plane.client.get("/national/v1/certificates", params={"cursor": cursor}, headers=headers)).json()
    assert len(feed_signing.verified_page_digests(verifier, "https://cp.test", cursor, second)) == 1
    with pytest.raises(feed_signing.PageSignatureError, match="cursor range"):
        feed_signing.verified_page_digests(verifier, "https://cp.test", "", second)
    with pytest.raises(feed_signing.PageSignatureError, match="issuer"):
        feed_signing.verified_page_digests(verifier, "https://other.test", "", first)


async def test_rotation_keeps_old_certificates_verifiable(plane: Plane) -> None:
    await _certified_fleet(plane, 1)
    headers = await plane.key("national")
    (old,) = (await (await plane.client.get("/national/v1/certificates", headers=headers)).json())["events"]
    new_key = await keystore.rotate_key(plane.engine, utc_now(), timedelta(hours=1))
    jwks = await (await plane.client.get("/.well-known/jwks.json")).json()
    assert len(Jwks.model_validate(jwks).keys) == 2
    assert JwksVerifier(jwks).verify(old["token"], utc_now())["iss"] == "https://cp.test"
    later = await keystore.published_jwks(plane.engine, utc_now() + timedelta(hours=2))
    assert [k["kid"] for k in later["keys"]] == [new_key.kid]
    body = await (await plane.client.get("/national/v1/summary", headers=headers)).json()
    assert JwksVerifier(jwks).verify(body["token"], utc_now())["iss"] == "https://cp.test"


async def test_only_one_process_holds_the_sweep_lease(plane: Plane) -> None:
    other = CertificationService(plane.engine, plane.service.settings, plane.service.issuer)
    assert await plane.service.sweep_if_leader() is not None
    assert await other.sweep_if_leader() is None
    await plane.service.close()
    assert await other.sweep_if_leader() is not None
    now = utc_now()
    assert await lease.acquire(plane.engine, "x", "a", timedelta(seconds=10), now)
    assert not await lease.acquire(plane.engine, "x", "b", timedelta(seconds=10), now)
    assert await lease.acquire(plane.engine, "x", "b", timedelta(seconds=10), now + timedelta(seconds=11))


async def test_feed_under_concurrent_writers_skips_and_repeats_nothing(plane: Plane) -> None:
    """Writers hold their transaction open for a random while; a reader pages all along."""
    node_id, _ = await plane.enroll(inventory("gpu-1"))
    writers, per_writer = 6, 5

    async def write(writer: int) -> None:
        for _ in range(per_writer):
            async with plane.engine.begin() as connection:
                await store.lock_feed(connection)
                await connection.execute(certificate_events.insert().values(
                    kind="revoked", certificate_id=uuid.uuid4().hex, node_id=node_id, at=utc_now(), reason=str(writer)))
                await asyncio.sleep(random.uniform(0, 0.02))

    seen: list[int] = []

    async def read(done: asyncio.Event) -> None:
        cursor = ""
        while True:
            finished = done.is_set()
            page = await store.feed_page(plane.engine, cursor, 3)
            seen.extend(e.event_id for e in page.events)
            cursor = page.next_cursor
            if finished and not page.has_more:
                return
            await asyncio.sleep(0.001)

    done = asyncio.Event()
    reader = asyncio.create_task(read(done))
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    await reader
    assert len(seen) == writers * per_writer
    assert seen == sorted(set(seen))


async def test_openapi_documents_the_national_routes(plane: Plane) -> None:
    document = await (await plane.client.get("/openapi.json")).json()
    for path in ("/.well-known/jwks.json", "/national/v1/summary", "/national/v1/certificates"):
        assert "get" in document["paths"][path]
    assert {"Jwks", "SignedSummary", "CertificateFeedPage"} <= set(document["components"]["schemas"])


async def test_national_role_sees_certified_data_only(plane: Plane) -> None:
    national = await plane.key("national")
    for path in ("/v1/capacity", "/v1/nodes"):
        response = await plane.client.get(path, headers=national)
        assert response.status == 403 and (await response.json())["error"]["code"] == "forbidden_role"
