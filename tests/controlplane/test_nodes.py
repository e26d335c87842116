"""Node list with cursors, node detail, usage history; health and the OpenAPI document."""

from __future__ import annotations

from .factories import batch_json, inventory, usage, usage_report


async def test_node_list_pages_with_an_opaque_cursor(client, helper) -> None:
    ids = sorted([(await helper.enroll(inventory(hostname=f"h{i}")))[0] for i in range(5)])
    key = await helper.key()
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = await (await client.get("/v1/nodes", params=params, headers=key)).json()
        seen += [n["node_id"] for n in body["nodes"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


async def test_node_list_filters(client, helper) -> None:
    await helper.enroll(inventory(hostname="a", rack="R1"))
    await helper.enroll(inventory(hostname="b", rack="R2"))
    body = await (await client.get("/v1/nodes", params={"rack": "R2"}, headers=await helper.key())).json()
    assert [(n["hostname"], n["rack"], n["accelerators"]) for n in body["nodes"]] == [("b", "R2", 8)]


async def test_bad_cursor_is_400(client, helper) -> None:
    response = await client.get("/v1/nodes", params={"cursor": "not-ours"}, headers=await helper.key())
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_cursor"


async def test_node_detail_has_latest_inventory_and_usage(client, helper) -> None:
    node_id, headers = await helper.enroll()
    await client.post("/v1/reports", data=batch_json(usage_report(node_id, 3, usage((70.0,)))), headers=headers)
    body = await (await client.get(f"/v1/nodes/{node_id}", headers=await helper.key())).json()
    assert body["node_id"] == node_id and body["status"] == "active"
    assert body["inventory"]["host"]["hostname"] == "gpu-001"
    assert body["latest_usage"]["accelerators"][0]["utilization_percent"] == 70.0
    assert body["last_seq"] == 3


async def test_unknown_node_is_404(client, helper) -> None:
    response = await client.get("/v1/nodes/nd-nope", headers=await helper.key())
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "node_not_found"


async def test_usage_history_pages_oldest_first(client, helper) -> None:
    node_id, headers = await helper.enroll()
    reports = [usage_report(node_id, seq, usage(cpu_percent=float(seq))) for seq in range(1, 6)]
    await client.post("/v1/reports", data=batch_json(*reports), headers=headers)
    key = await helper.key()
    first = await (await client.get(f"/v1/nodes/{node_id}/usage", params={"limit": "3"}, headers=key)).json()
    rest = await (await client.get(
        f"/v1/nodes/{node_id}/usage", params={"limit": "3", "cursor": first["next_cursor"]}, headers=key
    )).json()
    assert [p["seq"] for p in first["points"]] == [1, 2, 3] and first["next_cursor"]
    assert [p["usage"]["cpu_percent"] for p in rest["points"]] == [4.0, 5.0] and rest["next_cursor"] is None


async def test_health_and_readiness(client) -> None:
    assert (await client.get("/healthz")).status == 200
    assert await (await client.get("/readyz")).json() == {"status": "ready"}


async def test_openapi_document_is_generated_from_the_models(client) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert {"/v1/enroll", "/v1/reports", "/v1/capacity", "/v1/nodes", "/v1/nodes/{node_id}"} <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert "storage_network_bytes" in schemas["CapacityFigures"]["properties"]
    assert schemas["ReportBatch"]["properties"]["reports"]["maxItems"] == 500


async def test_unknown_route_is_a_json_404(client) -> None:
    response = await client.get("/v1/nowhere")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
