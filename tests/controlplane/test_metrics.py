"""`GET /metrics`: Prometheus exposition that prometheus-client parses, capacity gauges equal to `/v1/capacity`."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.certification.service import CERTIFICATION
from suanli.controlplane.metrics_capacity import FIGURES, PORT_SPEEDS

from .factories import batch_json, inventory, inventory_report, usage, usage_report

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def _scrape(client: Any, headers: dict[str, str]) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def _fleet(client: Any, helper: Any) -> None:
    """Three nodes in two data centers; one reports busy GPUs, one is posted twice, one batch is refused."""
    places = [("gpu-a1", "dc-jinan-1", "CN-SD", 8), ("gpu-a2", "dc-jinan-1", "CN-SD", 4), ("cpu-b1", "dc-nanjing-1", "CN-JS", 0)]
    for hostname, datacenter, province, gpus in places:
        inv = inventory(hostname=hostname, datacenter=datacenter, province=province, gpus=gpus,
                        nfs=((f"nas-{datacenter}:/export", 10**14),))
        node_id, headers = await helper.enroll(inv)
        batch = batch_json(inventory_report(node_id, 1, inv), usage_report(node_id, 2, usage((90.0,) * gpus)))
        post = {**headers, "Content-Type": "application/json"}
        assert (await client.post("/v1/reports", data=batch, headers=post)).status == 200
        if hostname == "gpu-a1":
            assert (await client.post("/v1/reports", data=batch, headers=post)).status == 200  # all duplicates
    bad = {"Authorization": "Bearer sln_not-a-credential", "Content-Type": "application/json"}
    assert (await client.post("/v1/reports", data=batch_json(usage_report("nd-x", 1)), headers=bad)).status == 401


async def test_metrics_parse_and_capacity_gauges_equal_the_capacity_api(client, helper) -> None:
    await _fleet(client, helper)
    headers = await helper.key("operator")
    samples = await _scrape(client, headers)
    capacity = await (await client.get("/v1/capacity?by=datacenter", headers=headers)).json()
    assert len(capacity["groups"]) == 2
    for group in capacity["groups"]:
        place = {"province": group["province"], "datacenter": group["datacenter"]}
        for suffix, attribute, _ in FIGURES:
            assert _value(samples, f"suanli_capacity_{suffix}", **place) == group[attribute], (suffix, place)
        for precision, flops in group["flops"].items():
            assert _value(samples, "suanli_capacity_flops", **place, precision=precision) == flops
        for speed, attribute in PORT_SPEEDS.items():
            assert _value(samples, "suanli_capacity_ports", **place, speed=speed) == group[attribute]
        for model in group["accelerators"]:
            labels = {**place, "vendor": model["vendor"], "model": model["model"], "known": str(model["known"]).lower()}
            assert _value(samples, "suanli_accelerators", **labels) == model["total"]
            assert _value(samples, "suanli_accelerators_in_use", **labels) == model["in_use"]
    jinan = {"province": "CN-SD", "datacenter": "dc-jinan-1"}
    assert _value(samples, "suanli_capacity_accelerators", **jinan) == 12
    assert _value(samples, "suanli_capacity_accelerators_in_use", **jinan) == 12
    assert _value(samples, "suanli_capacity_nodes", province="CN-JS", datacenter="dc-nanjing-1") == 1


async def test_ingest_request_and_database_instruments_count_what_happened(client, helper) -> None:
    await _fleet(client, helper)
    headers = await helper.key("operator")
    assert (await client.get("/v1/capacity", headers=headers)).status == 200
    samples = await _scrape(client, headers)
    assert _value(samples, "suanli_ingest_reports_accepted_total") == 6  # 3 nodes × (inventory + usage)
    assert _value(samples, "suanli_ingest_reports_duplicate_total") == 2
    assert _value(samples, "suanli_ingest_batches_rejected_total", code="invalid_credential") == 1
    reports = {"route": "/v1/reports", "method": "POST"}
    assert _value(samples, "suanli_http_requests_total", **reports, status="200") == 4
    assert _value(samples, "suanli_http_requests_total", **reports, status="401") == 1
    assert _value(samples, "suanli_http_request_duration_seconds_count", **reports) == 5
    assert _value(samples, "suanli_http_errors_total", route="/v1/reports", code="invalid_credential") == 1
    assert _value(samples, "suanli_http_requests_total", route="/v1/capacity", method="GET", status="200") == 1
    assert (_value(samples, "suanli_db_statement_duration_seconds_count", operation="SELECT") or 0) > 0
    # Every accepted batch went through the group-commit writer, however the batches were grouped.
    assert _value(samples, "suanli_group_commit_batch_requests_sum") == 4
    assert 1 <= (_value(samples, "suanli_group_commit_transaction_duration_seconds_count") or 0) <= 4


async def test_certified_and_uncertified_counts_cover_every_node(client, helper) -> None:
    await _fleet(client, helper)
    headers = await helper.key("operator")
    before = await _scrape(client, headers)
    assert sum(v for (name, labels), v in before.items() if name == "suanli_nodes_certification"
               and ("state", "unevaluated") in labels) == 3
    await client.app[CERTIFICATION].sweep_if_leader()
    after = await _scrape(client, headers)
    states = {dict(labels)["state"]: v for (name, labels), v in after.items()
              if name == "suanli_nodes_certification" and dict(labels)["datacenter"] == "dc-jinan-1"}
    assert sum(states.values()) == 2 and states.get("unevaluated", 0) == 0


async def test_scraping_needs_an_operator_key(client, helper) -> None:
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer slk_unknown"})).status == 401
    assert (await client.get("/metrics", headers=await helper.key("national"))).status == 403
    assert (await client.get("/metrics", headers=await helper.key("admin"))).status == 200


async def test_two_apps_in_one_process_keep_separate_registries(client, helper, aiohttp_client, config) -> None:
    from suanli.controlplane.app import create_app

    await _fleet(client, helper)
    other = await aiohttp_client(create_app(config.model_copy(update={"database_url": config.database_url})))
    assert other.app[ENGINE] is not client.app[ENGINE]
    key = await helper.key("operator")
    samples = await _scrape(other, key)
    assert _value(samples, "suanli_ingest_reports_accepted_total") == 0
    assert _value(samples, "suanli_capacity_nodes", province="CN-SD", datacenter="dc-jinan-1") == 2
