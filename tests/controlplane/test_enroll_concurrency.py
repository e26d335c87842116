"""Enrollment under concurrency, on both stores: tokens spent exactly, no half-stored node, no 500."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from suanli.controlplane.api import reports as api_reports
from suanli.controlplane.app import create_app
from suanli.controlplane.appkeys import CATALOG, SYNC_DB
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store import enroll as enroll_store
from suanli.controlplane.store.enroll import EnrolledNode, EnrollItem, enroll_nodes
from suanli.controlplane.store.tables import LEVEL_PROVINCE, bootstrap_tokens, capacity_totals, node_credentials, nodes
from suanli.schema import SCHEMA_VERSION, utc_now

from .conftest import Helper
from .factories import inventory

AGENTS = 24


async def _enroll(client, token: str, hostname: str):  # noqa: ANN001, ANN202
    body = {"token": token, "inventory": inventory(hostname=hostname).model_dump(mode="json")}
    return await client.post("/v1/enroll", json=body)


async def _counts(engine) -> tuple[int, int, list[int]]:  # noqa: ANN001
    """Nodes, credentials, and every token's use count."""
    async with engine.connect() as connection:
        node_count = (await connection.execute(select(func.count()).select_from(nodes))).scalar_one()
        credential_count = (await connection.execute(select(func.count()).select_from(node_credentials))).scalar_one()
        uses = (await connection.execute(select(bootstrap_tokens.c.use_count).order_by(bootstrap_tokens.c.id)))
        return node_count, credential_count, list(uses.scalars())


async def _province_nodes(engine) -> int:  # noqa: ANN001
    """Nodes in the live aggregates' province rows (what /v1/capacity adds up)."""
    async with engine.connect() as connection:
        query = select(func.coalesce(func.sum(capacity_totals.c.nodes), 0)).where(capacity_totals.c.level == LEVEL_PROVINCE)
        return int((await connection.execute(query)).scalar_one())


async def test_n_concurrent_enrollments_on_a_token_of_n_uses_make_n_nodes(client, helper) -> None:
    token = await helper.token(uses=AGENTS)
    responses = await asyncio.gather(*(_enroll(client, token, f"h{i}") for i in range(AGENTS)))
    assert [r.status for r in responses] == [201] * AGENTS, [await r.text() for r in responses if r.status != 201]
    node_ids = {(await r.json())["node_id"] for r in responses}
    assert len(node_ids) == AGENTS
    assert await _counts(helper.engine) == (AGENTS, AGENTS, [AGENTS])
    key = await helper.key()
    capacity = await (await client.get("/v1/capacity", headers=key)).json()
    assert capacity["total"]["nodes"] == AGENTS
    one_more = await _enroll(client, token, "late")
    assert one_more.status == 403 and (await one_more.json())["error"]["code"] == "token_used_up"
    assert await _counts(helper.engine) == (AGENTS, AGENTS, [AGENTS])


async def test_two_processes_spend_one_token_exactly(client, helper, aiohttp_client, config) -> None:
    """Two apps on one database stand in for two `suanli serve` processes behind a balancer."""
    other = await aiohttp_client(create_app(config))
    uses = AGENTS // 2 + 3
    token = await helper.token(uses=uses)
    responses = await asyncio.gather(
        *(_enroll(client if i % 2 else other, token, f"h{i}") for i in range(AGENTS))
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * uses + [403] * (AGENTS - uses), [await r.text() for r in responses]
    assert await _counts(helper.engine) == (uses, uses, [uses])
    assert await _province_nodes(helper.engine) == uses


async def test_a_group_answers_each_enrollment_on_its_own(client, helper) -> None:
    jinan = await helper.token(uses=5)
    single_use = await helper.token(uses=1)
    expired = await helper.token(ttl_s=-1)
    items = [
        EnrollItem(jinan, inventory(hostname="a")),
        EnrollItem("slt_" + "x" * 43, inventory(hostname="b")),
        EnrollItem(jinan, inventory(hostname="c", datacenter="dc-qingdao-2")),
        EnrollItem(single_use, inventory(hostname="d")),
        EnrollItem(single_use, inventory(hostname="e")),
        EnrollItem(expired, inventory(hostname="f")),
    ]
    answers = await client.app[SYNC_DB].run(enroll_nodes, items, utc_now(), client.app[CATALOG])
    assert [a.code if isinstance(a, ApiError) else "enrolled" for a in answers] == [
        "enrolled", "token_unknown", "location_mismatch", "enrolled", "token_used_up", "token_expired",
    ]
    enrolled = [a for a in answers if isinstance(a, EnrolledNode)]
    assert len({a.node_id for a in enrolled}) == 2 and len({a.credential for a in enrolled}) == 2
    assert await _counts(helper.engine) == (2, 2, [1, 1, 0])
    assert await _province_nodes(helper.engine) == 2


async def test_a_failed_group_leaves_nothing_half_stored(client, helper, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await helper.token(uses=3)

    def failing_apply(connection, delta) -> None:  # noqa: ANN001
        raise RuntimeError("the aggregates could not be written")

    monkeypatch.setattr(enroll_store.aggregates, "apply", failing_apply)
    items = [EnrollItem(token, inventory(hostname=f"h{i}")) for i in range(3)]
    with pytest.raises(RuntimeError):
        await client.app[SYNC_DB].run(enroll_nodes, items, utc_now(), client.app[CATALOG])
    assert await _counts(helper.engine) == (0, 0, [0])


async def test_the_enrolling_process_knows_the_new_credential(
    aiohttp_client, config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first report needs no credential look-up on the process that enrolled the node."""
    client = await aiohttp_client(create_app(config.model_copy(update={"node_auth_cache_ttl_s": 30.0})))
    token = await Helper(client).token(uses=1)
    enrolled = await (await _enroll(client, token, "first")).json()

    async def no_lookup(engine, credential):  # noqa: ANN001, ANN202
        raise AssertionError("the credential was looked up in the database")

    monkeypatch.setattr(api_reports, "node_for_credential", no_lookup)
    report = {"schema": SCHEMA_VERSION, "node_id": enrolled["node_id"], "seq": 1, "sent_at": utc_now().isoformat(),
              "kind": "inventory", "body": inventory(hostname="first").model_dump(mode="json")}
    response = await client.post("/v1/reports", json={"reports": [report]},
                                 headers={"Authorization": f"Bearer {enrolled['credential']}"})
    assert response.status == 200, await response.text()
    assert (await response.json())["accepted"] == [1]
