"""Ingest: batches stored idempotently by (node_id, seq); every refusal has its code and status."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from suanli.controlplane.appkeys import SYNC_DB
from suanli.controlplane.contribution import DefaultCatalog
from suanli.controlplane.store.nodes import NodeIdentity
from suanli.controlplane.store.reports import IngestItem, IngestPolicy, ingest
from suanli.controlplane.store.tables import inventory_history, nodes, usage_history
from suanli.schema import ReportBatch, Usage, UsageReport, utc_now

from .factories import batch_json, inventory, inventory_report, usage, usage_report


async def _post(client, headers, body: str | bytes):  # noqa: ANN001, ANN202
    return await client.post(
        "/v1/reports", data=body, headers={**headers, "Content-Type": "application/json"}
    )


async def _count(helper, table) -> int:  # noqa: ANN001
    async with helper.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()


async def test_batch_is_stored_and_acknowledged(client, helper) -> None:
    node_id, headers = await helper.enroll()
    body = batch_json(
        inventory_report(node_id, 1, inventory(rack="R07")), usage_report(node_id, 2), usage_report(node_id, 3)
    )
    response = await _post(client, headers, body)
    assert response.status == 200
    assert await response.json() == {"accepted": [1, 2, 3], "duplicates": []}
    async with helper.engine.connect() as connection:
        node = (await connection.execute(select(nodes).where(nodes.c.id == node_id))).one()
    assert (node.last_seq, node.usage_seq, node.inventory_seq, node.rack) == (3, 3, 1, "R07")
    assert json.loads(node.latest_usage)["cpu_percent"] == 10.0
    assert await _count(helper, usage_history) == 2 and await _count(helper, inventory_history) == 1


async def test_replayed_seq_is_a_duplicate_and_stored_once(client, helper) -> None:
    node_id, headers = await helper.enroll()
    first = await _post(client, headers, batch_json(usage_report(node_id, 1), usage_report(node_id, 2)))
    again = await _post(client, headers, batch_json(usage_report(node_id, 2), usage_report(node_id, 3)))
    assert await first.json() == {"accepted": [1, 2], "duplicates": []}
    assert await again.json() == {"accepted": [3], "duplicates": [2]}
    assert await _count(helper, usage_history) == 3


async def test_seq_twice_in_one_batch_is_stored_once(client, helper) -> None:
    node_id, headers = await helper.enroll()
    response = await _post(client, headers, batch_json(usage_report(node_id, 5), usage_report(node_id, 5)))
    assert await response.json() == {"accepted": [5], "duplicates": [5]}
    assert await _count(helper, usage_history) == 1


async def test_older_usage_does_not_replace_newer(client, helper) -> None:
    node_id, headers = await helper.enroll()
    await _post(client, headers, batch_json(usage_report(node_id, 9, usage(cpu_percent=90.0))))
    await _post(client, headers, batch_json(usage_report(node_id, 4, usage(cpu_percent=40.0))))
    async with helper.engine.connect() as connection:
        node = (await connection.execute(select(nodes).where(nodes.c.id == node_id))).one()
    assert node.usage_seq == 9 and json.loads(node.latest_usage)["cpu_percent"] == 90.0


async def test_another_nodes_id_is_403_and_nothing_stored(client, helper) -> None:
    node_id, headers = await helper.enroll(inventory(hostname="a"))
    other_id, _ = await helper.enroll(inventory(hostname="b"))
    response = await _post(client, headers, batch_json(usage_report(node_id, 1), usage_report(other_id, 2)))
    assert response.status == 403
    error = (await response.json())["error"]
    assert error["code"] == "node_mismatch" and error["detail"] == {"index": 1, "node_id": other_id}
    assert await _count(helper, usage_history) == 0


async def test_unknown_credential_is_401(client, helper) -> None:
    response = await _post(client, {"Authorization": "Bearer sln_" + "y" * 43}, batch_json(usage_report("n", 1)))
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "invalid_credential"


async def test_missing_authorization_is_401(client) -> None:
    response = await _post(client, {}, batch_json(usage_report("n", 1)))
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthenticated"


async def test_malformed_json_is_400(client, helper) -> None:
    _, headers = await helper.enroll()
    response = await _post(client, headers, b'{"reports": [')
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_json"


async def test_bad_report_is_422_with_index_and_path_and_nothing_stored(client, helper) -> None:
    node_id, headers = await helper.enroll()
    batch = json.loads(batch_json(usage_report(node_id, 1), usage_report(node_id, 2)))
    batch["reports"][1]["body"]["cpu_percent"] = "busy"
    response = await _post(client, headers, json.dumps(batch))
    assert response.status == 422
    errors = (await response.json())["error"]["detail"]["errors"]
    assert errors[0]["index"] == 1
    assert errors[0]["loc"] == ["reports", 1, "usage", "body", "cpu_percent"]
    assert await _count(helper, usage_history) == 0


async def test_out_of_range_value_is_422(client, helper) -> None:
    node_id, headers = await helper.enroll()
    batch = json.loads(batch_json(usage_report(node_id, 1)))
    batch["reports"][0]["body"]["cpu_percent"] = 250.0
    batch["reports"][0]["seq"] = 0
    response = await _post(client, headers, json.dumps(batch))
    assert response.status == 422
    locs = [e["loc"] for e in (await response.json())["error"]["detail"]["errors"]]
    assert ["reports", 0, "usage", "body", "cpu_percent"] in locs and ["reports", 0, "usage", "seq"] in locs


async def test_oversize_body_is_413(client, helper, config) -> None:
    _, headers = await helper.enroll()
    response = await _post(client, headers, b" " * (config.max_body_bytes + 1))
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "body_too_large"


async def test_too_many_reports_is_413(client, helper) -> None:
    node_id, headers = await helper.enroll()
    body = json.dumps({"reports": [json.loads(usage_report(node_id, 1).model_dump_json(by_alias=True))] * 501})
    response = await _post(client, headers, body)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "batch_too_large"


async def test_inventory_naming_another_datacenter_is_422(client, helper) -> None:
    node_id, headers = await helper.enroll()
    response = await _post(client, headers, batch_json(inventory_report(node_id, 1, inventory(datacenter="dc-x"))))
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "location_mismatch" and error["detail"]["index"] == 0


async def test_revoked_node_is_refused(client, helper) -> None:
    from suanli.controlplane.store.nodes import set_node_status
    from suanli.schema import utc_now

    node_id, headers = await helper.enroll()
    await set_node_status(helper.engine, node_id, "revoked", utc_now(), actor="test")
    response = await _post(client, headers, batch_json(usage_report(node_id, 1)))
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "node_revoked"


async def test_revoked_node_is_refused_at_once_while_its_credential_is_cached(aiohttp_client, config) -> None:  # noqa: ANN001
    from suanli.controlplane.app import create_app
    from suanli.controlplane.store.nodes import set_node_status
    from suanli.schema import utc_now

    from .conftest import Helper

    client = await aiohttp_client(create_app(config.model_copy(update={"node_auth_cache_ttl_s": 300.0})))
    helper = Helper(client)
    node_id, headers = await helper.enroll()
    assert (await _post(client, headers, batch_json(usage_report(node_id, 1)))).status == 200  # now cached
    await set_node_status(helper.engine, node_id, "revoked", utc_now(), actor="test")
    response = await _post(client, headers, batch_json(usage_report(node_id, 2)))
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "node_revoked"
    assert await _count(helper, usage_history) == 1


def _usage_envelope_json(node_id: str, seq: int, body_members: str) -> str:
    """One usage report's JSON with `body_members` written verbatim after the envelope's fields."""
    sent_at = usage_report(node_id, seq).sent_at.isoformat()
    return (f'{{"schema": "v1", "node_id": "{node_id}", "seq": {seq}, "kind": "usage", '
            f'"sent_at": "{sent_at}", {body_members}}}')


async def _stored_usage(helper, node_id: str) -> dict[int, Usage]:  # noqa: ANN001
    async with helper.engine.connect() as connection:
        rows = await connection.execute(
            select(usage_history.c.seq, usage_history.c.body).where(usage_history.c.node_id == node_id)
        )
        return {seq: Usage.model_validate_json(body) for seq, body in rows}


async def test_history_keeps_the_validated_body_when_a_report_repeats_its_body_key(client, helper) -> None:
    """Pydantic validates the last of two "body" keys; SQLite's JSON functions would take the
    first. The stored point must be the validated one, never the unvalidated first copy."""
    node_id, headers = await helper.enroll()
    unvalidated = '"body": {"cpu_percent": 99.0, "memory_used_bytes": "not even a number"}'
    validated = '"body": {"cpu_percent": 10.0, "memory_used_bytes": 1024}'
    body = '{"reports": [' + _usage_envelope_json(node_id, 1, f"{unvalidated}, {validated}") + "]}"
    response = await _post(client, headers, body)
    assert response.status == 200 and await response.json() == {"accepted": [1], "duplicates": []}
    stored = await _stored_usage(helper, node_id)
    assert (stored[1].cpu_percent, stored[1].memory_used_bytes) == (10.0, 1024)


async def test_history_bodies_cut_from_the_request_or_encoded_read_back_the_same(client, helper) -> None:
    """A plain batch takes the fast way (the database cuts each body out of the request text); one
    with a \\u escape is encoded in Python. Both read back as the usage that was sent."""
    node_id, headers = await helper.enroll()
    plain = [usage_report(node_id, seq, usage((float(seq), 50.0), cpu_percent=float(seq))) for seq in (1, 2)]
    escaped = _usage_envelope_json(
        node_id, 3, '"body": {"cpu_percent": 3.0, "filesystems": [{"mountpoint": "/mnt/caf\\u00e9", "size_bytes": 2, "used_bytes": 1}]}'
    )
    assert (await _post(client, headers, batch_json(*plain))).status == 200
    assert (await _post(client, headers, '{"reports": [' + escaped + "]}")).status == 200
    stored = await _stored_usage(helper, node_id)
    assert stored[1] == plain[0].body and stored[2] == plain[1].body
    assert stored[3].filesystems[0].mountpoint == "/mnt/café"


async def test_writer_stores_an_items_bodies_and_latest_usage(client, helper) -> None:
    """`ingest` straight from a prepared item, in the writer's own transactions: the history holds
    each body, the node its newest usage."""
    node_id, _headers = await helper.enroll()
    sent = [usage_report(node_id, seq, usage((float(seq),), cpu_percent=float(seq))) for seq in (1, 2)]
    request = batch_json(*sent).encode()
    item = IngestItem.prepare(NodeIdentity(node_id, "active", "CN-SD", "dc-jinan-1"),
                              ReportBatch.model_validate_json(request).reports, request)
    writes = client.app[SYNC_DB]
    (ack,) = await writes.run(ingest, [item], utc_now(), IngestPolicy(90.0, DefaultCatalog()))
    assert (ack.accepted, ack.duplicates) == ([1, 2], [])
    assert await _stored_usage(helper, node_id) == {1: sent[0].body, 2: sent[1].body}
    async with helper.engine.connect() as connection:
        latest = (await connection.execute(select(nodes.c.latest_usage).where(nodes.c.id == node_id))).scalar_one()
    assert Usage.model_validate_json(latest) == sent[1].body


async def test_a_late_report_below_the_highest_seq_is_stored_and_a_resent_one_is_not(client, helper) -> None:
    """Only seqs up to the node's highest stored one can be redeliveries (the writer looks those
    up; above it a report is new for certain): a gap filled late is stored, a resend is not."""
    node_id, headers = await helper.enroll()
    first = await _post(client, headers, batch_json(usage_report(node_id, 5), usage_report(node_id, 7)))
    late = await _post(client, headers, batch_json(usage_report(node_id, 6), usage_report(node_id, 7),
                                                   usage_report(node_id, 8)))
    assert await first.json() == {"accepted": [5, 7], "duplicates": []}
    assert await late.json() == {"accepted": [6, 8], "duplicates": [7]}
    assert sorted(await _stored_usage(helper, node_id)) == [5, 6, 7, 8]


async def test_history_holds_each_body_as_the_request_spelled_it(client, helper) -> None:
    """Bodies are copied from the request's text by position on both stores: the stored text is
    the sent text, spacing and key order included, and reads back as the validated usage; a
    report's inventory neighbour does not shift the cut."""
    node_id, headers = await helper.enroll()
    first = '{ "memory_used_bytes" : 7,  "cpu_percent": 1.5 }'
    second = '{"cpu_percent": 2.5, "filesystems": [{"used_bytes": 1, "mountpoint": "/data", "size_bytes": 2}]}'
    inventory_envelope = inventory_report(node_id, 3, inventory(hostname="cut-host")).model_dump_json(by_alias=True)
    body = (
        '{"reports": [' + _usage_envelope_json(node_id, 1, f'"body": {first}')
        + ", " + inventory_envelope + ", "
        + '{"body": ' + second + f', "schema": "v1", "node_id": "{node_id}", "seq": 2, "kind": "usage", '
        + f'"sent_at": "{utc_now().isoformat()}"' + "}]}"
    )
    response = await _post(client, headers, body)
    assert response.status == 200, await response.text()
    async with helper.engine.connect() as connection:
        stored = dict((await connection.execute(
            select(usage_history.c.seq, usage_history.c.body).where(usage_history.c.node_id == node_id)
        )).all())
        latest = (await connection.execute(select(nodes.c.latest_usage).where(nodes.c.id == node_id))).scalar_one()
    assert stored == {1: first, 2: second}
    assert Usage.model_validate_json(latest).cpu_percent == 2.5


async def test_latest_usage_is_the_newest_accepted_whatever_the_batch_order(client, helper) -> None:
    """The writer keeps only each batch's newest usage report whole: out of order, with
    duplicates, and with an older report accepted beside a newer one stored before, the node's
    latest usage is always the highest seq it has."""
    node_id, headers = await helper.enroll()

    async def post_and_read_latest(*seqs: int) -> float:
        sent = [usage_report(node_id, seq, usage(cpu_percent=float(seq))) for seq in seqs]
        assert (await _post(client, headers, batch_json(*sent))).status == 200
        async with helper.engine.connect() as connection:
            latest = (await connection.execute(select(nodes.c.latest_usage).where(nodes.c.id == node_id))).scalar_one()
        return Usage.model_validate_json(latest).cpu_percent

    assert await post_and_read_latest(3, 9, 5) == 9.0
    assert await post_and_read_latest(11, 9) == 11.0  # 9 a duplicate, 11 new
    assert await post_and_read_latest(10, 11) == 11.0  # 10 new but older, 11 stored already
    assert await post_and_read_latest(12, 12) == 12.0  # a seq twice in one batch
    stored = await _stored_usage(helper, node_id)
    assert sorted(stored) == [3, 5, 9, 10, 11, 12] and all(stored[seq].cpu_percent == seq for seq in stored)


def test_a_prepared_item_holds_no_usage_model_but_the_newest() -> None:
    """What a request keeps while it waits for its group: the reports' models must not be among
    it (each waiting batch's ~110 objects slowed every parse), bar the one the writer reads."""
    sent = [usage_report("nd-1", seq, usage((float(seq),) * 8)) for seq in (4, 6, 5)]
    request = batch_json(*sent).encode()
    item = IngestItem.prepare(NodeIdentity("nd-1", "active", "CN-SD", "dc-jinan-1"),
                              ReportBatch.model_validate_json(request).reports, request)
    held = [value for value in vars(item).values() if isinstance(value, (UsageReport, Usage))]
    held += [v for value in vars(item).values() if isinstance(value, (list, dict))
             for v in (value.values() if isinstance(value, dict) else value) if isinstance(v, (UsageReport, Usage))]
    assert held == [item.newest_usage] and item.newest_usage.seq == 6 and item.newest_usage_index == 1
