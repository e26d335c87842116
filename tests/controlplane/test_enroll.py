"""Enrollment: a token and an inventory in, a node id and credential out; every refusal tested."""

from __future__ import annotations

from sqlalchemy import select

from suanli.controlplane.store.tables import bootstrap_tokens, node_credentials, nodes

from .factories import inventory


async def _enroll(client, token: str, inv=None):  # noqa: ANN001, ANN202
    inv = inv or inventory()
    return await client.post("/v1/enroll", json={"token": token, "inventory": inv.model_dump(mode="json")})


async def test_enroll_returns_node_and_stores_only_hashes(client, helper) -> None:
    token = await helper.token()
    response = await _enroll(client, token)
    assert response.status == 201
    body = await response.json()
    assert body["credential"].startswith("sln_") and len(body["credential"]) >= 40
    assert (body["datacenter"], body["province"]) == ("dc-jinan-1", "CN-SD")
    async with helper.engine.connect() as connection:
        node = (await connection.execute(select(nodes).where(nodes.c.id == body["node_id"]))).one()
        stored = (await connection.execute(select(node_credentials.c.credential_hash))).scalars().all()
        token_hashes = (await connection.execute(select(bootstrap_tokens.c.token_hash))).scalars().all()
    assert node.status == "active" and node.rack == "R01" and node.hostname == "gpu-001"
    assert body["credential"] not in stored and len(stored) == 1 and len(stored[0]) == 64
    assert token not in token_hashes


async def test_unknown_token_is_401(client) -> None:
    response = await _enroll(client, "slt_" + "x" * 43)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "token_unknown"


async def test_expired_token_is_401_with_its_own_code(client, helper) -> None:
    token = await helper.token(ttl_s=-1)
    response = await _enroll(client, token)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "token_expired"


async def test_used_up_token_is_403_and_counts_exactly(client, helper) -> None:
    token = await helper.token(uses=2)
    first = await _enroll(client, token, inventory(hostname="a"))
    second = await _enroll(client, token, inventory(hostname="b"))
    third = await _enroll(client, token, inventory(hostname="c"))
    assert (first.status, second.status, third.status) == (201, 201, 403)
    assert (await third.json())["error"]["code"] == "token_used_up"


async def test_token_is_scoped_to_its_datacenter(client, helper) -> None:
    token = await helper.token(datacenter="dc-qingdao-2")
    response = await _enroll(client, token, inventory(datacenter="dc-jinan-1"))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "location_mismatch"
    assert error["detail"]["datacenter"] == {"expected": "dc-qingdao-2", "got": "dc-jinan-1"}
    # The refused enrollment did not spend a use of the token.
    async with helper.engine.connect() as connection:
        assert (await connection.execute(select(bootstrap_tokens.c.use_count))).scalar_one() == 0


async def test_inventory_without_location_takes_the_tokens(client, helper) -> None:
    token = await helper.token(datacenter="dc-qingdao-2")
    response = await _enroll(client, token, inventory(datacenter=None, province=None, rack=None))
    assert response.status == 201
    assert (await response.json())["datacenter"] == "dc-qingdao-2"


async def test_malformed_json_is_400(client) -> None:
    response = await client.post("/v1/enroll", data=b'{"token": ', headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_json"


async def test_wrong_type_is_422_with_field_path(client, helper) -> None:
    token = await helper.token()
    inv = inventory().model_dump(mode="json")
    inv["cpu"]["physical_cores"] = "many"
    response = await client.post("/v1/enroll", json={"token": token, "inventory": inv})
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "validation_failed"
    assert ["inventory", "cpu", "physical_cores"] in [e["loc"] for e in error["detail"]["errors"]]


async def test_out_of_range_value_is_422(client, helper) -> None:
    token = await helper.token()
    inv = inventory().model_dump(mode="json")
    inv["memory"]["total_bytes"] = 2**62
    response = await client.post("/v1/enroll", json={"token": token, "inventory": inv})
    assert response.status == 422
    assert ["inventory", "memory", "total_bytes"] in [
        e["loc"] for e in (await response.json())["error"]["detail"]["errors"]
    ]


async def test_concurrent_enrollments_spend_a_token_exactly(client, helper) -> None:
    import asyncio

    token = await helper.token(uses=5)
    responses = await asyncio.gather(*(_enroll(client, token, inventory(hostname=f"h{i}")) for i in range(12)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] * 5 + [403] * 7, [await r.text() for r in responses if r.status not in (201, 403)]
