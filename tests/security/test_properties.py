"""Property tests: the wire contract round-trips, the store takes whatever the contract takes, checks never crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.agent.sysfs import read_line
from suanli.controlplane.certification.checks import CertificationPolicy, NodeFacts, evaluate
from suanli.schema import Inventory, InventoryReport, ReportBatch, Usage, UsageReport

from .conftest import Callers
from .counts import record

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
# Text the contract takes: any code point but surrogates (JSON cannot carry lone ones) and U+0000.
characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
text = st.text(characters, min_size=1, max_size=40)
optional_text = st.none() | text
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def inventories(draw: st.DrawFn, datacenter: str | None = None) -> Inventory:
    """Inventories anywhere inside the contract's bounds: names, sizes, counts and lists of devices."""
    gpus = draw(st.lists(st.fixed_dictionaries({
        "vendor": st.sampled_from(["nvidia", "huawei", "hygon", "cambricon", "other"]),
        "model": optional_text, "uuid": optional_text,
        "memory_total_bytes": st.none() | st.integers(0, 2 * 2**40),
        "power_limit_w": st.none() | st.floats(0, 20_000),
    }), max_size=8))
    document: dict[str, Any] = {
        "host": {"hostname": draw(text), "machine_id": draw(st.none() | st.from_regex(r"\A[0-9a-f]{32}\Z")),
                 "dmi_product_uuid": draw(optional_text), "os_name": draw(optional_text)},
        "location": {"datacenter": datacenter, "rack": draw(optional_text), "room": draw(optional_text)},
        "cpu": draw(st.none() | st.fixed_dictionaries({
            "sockets": st.integers(1, 64), "physical_cores": st.integers(1, 8192),
            "logical_cores": st.integers(1, 65536), "base_mhz": st.none() | st.floats(1, 20_000),
            "isa_features": st.lists(st.text(characters, min_size=1, max_size=32), max_size=5)})),
        "memory": draw(st.none() | st.fixed_dictionaries({"total_bytes": st.integers(0, 256 * 2**40)})),
        "accelerators": [{**gpu, "index": index} for index, gpu in enumerate(gpus)],
        "block_devices": draw(st.lists(st.fixed_dictionaries({
            "name": st.text(characters, min_size=1, max_size=64), "size_bytes": st.integers(0, 2 * 2**50),
            "serial": optional_text}), max_size=4)),
        "network_interfaces": draw(st.lists(st.fixed_dictionaries({
            "name": st.text(characters, min_size=1, max_size=64), "speed_mbps": st.none() | st.integers(0, 3_200_000),
            "link_up": st.booleans()}), max_size=4)),
    }
    return Inventory.model_validate(document)


usages = st.builds(lambda cpu, mem: Usage.model_validate({"cpu_percent": cpu, "memory_used_bytes": mem}),
                   st.none() | st.floats(0, 100), st.none() | st.integers(0, 256 * 2**40))


@SETTINGS
@given(inventories(), usages, st.integers(1, 2**62), st.datetimes(timezones=st.just(timezone.utc)))
def test_reports_round_trip_through_their_json(inventory: Inventory, usage: Usage, seq: int,
                                               sent_at: datetime) -> None:
    record("property_examples")
    batch = ReportBatch(reports=[InventoryReport(node_id="nd-1", seq=seq, sent_at=sent_at, body=inventory),
                                 UsageReport(node_id="nd-1", seq=seq, sent_at=sent_at, body=usage)])
    again = ReportBatch.model_validate_json(batch.model_dump_json(by_alias=True))
    assert again == batch
    assert json.loads(batch.model_dump_json(by_alias=True))["reports"][0]["schema"] == "v1"


@SETTINGS
@given(st.text(max_size=80))
def test_any_text_with_a_nul_is_refused_by_the_contract(value: str) -> None:
    record("property_examples")
    document = {"host": {"hostname": value + "\x00"}}
    try:
        Inventory.model_validate(document)
    except ValueError:
        return
    raise AssertionError("an inventory with U+0000 in its hostname was accepted")


def test_firmware_nul_padding_never_reaches_the_contract(tmp_path: Path) -> None:
    (tmp_path / "product_serial").write_bytes(b"SN-123\x00\x00\x00\n")
    assert read_line(tmp_path / "product_serial") == "SN-123"


async def test_the_store_takes_every_inventory_the_contract_takes(make_client: Callable[..., Any]) -> None:
    """Drawn inventories enrolled and then reported: the API answers 201/200 to every one, never 4xx/5xx."""
    drawn: list[Inventory] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(inventories(datacenter="dc-jinan-1"))
    def draw(inventory: Inventory) -> None:
        drawn.append(inventory)

    draw()
    client = await make_client(rate_limit_node_per_s=0)
    callers = Callers(client)
    token = await callers.token(uses=len(drawn))
    problems = []
    for inventory in drawn:
        record("property_examples")
        answer = await client.post("/v1/enroll", json={"token": token, "inventory": inventory.model_dump(mode="json")})
        if answer.status != 201:
            problems.append(f"enroll {answer.status}: {await answer.text()}")
            continue
        enrolled = await answer.json()
        report = InventoryReport(node_id=enrolled["node_id"], seq=1, sent_at=datetime.now(timezone.utc),
                                 body=inventory)
        posted = await client.post("/v1/reports", data=ReportBatch(reports=[report]).model_dump_json(by_alias=True),
                                   headers={"Authorization": f"Bearer {enrolled['credential']}",
                                            "Content-Type": "application/json"})
        if posted.status != 200:
            problems.append(f"report {posted.status}: {await posted.text()}")
    assert problems == []


@st.composite
def node_facts(draw: st.DrawFn) -> NodeFacts:
    enrolled_ago_s = draw(st.floats(0, 90 * 86400))
    seen_ago_s = draw(st.none() | st.floats(-3600, 90 * 86400))  # negative: a clock ahead of ours
    return NodeFacts(
        node_id="n1", status=draw(st.sampled_from(["pending", "active", "quarantined", "revoked"])),
        datacenter=draw(st.none() | st.sampled_from(["dc-a", "dc-b"])), now=NOW,
        enrolled_at=NOW - timedelta(seconds=enrolled_ago_s),
        last_seen_at=None if seen_ago_s is None else NOW - timedelta(seconds=seen_ago_s),
        usage_reports_in_window=draw(st.integers(0, 10**6)),
        inventory=draw(st.none() | inventories(datacenter="dc-a")),
        latest_usage=draw(st.none() | usages),
        registered_racks=frozenset(draw(st.lists(text, max_size=3))),
    )


class AnyCatalog:
    """Knows every model with any memory: isolates the checks from datasheet data."""

    def match(self, vendor: str, model_name: str, memory_total_bytes: int | None) -> Any | None:
        return {"model": model_name} if model_name else None

    def memory_consistent(self, spec: Any, memory_total_bytes: int) -> bool:
        return True


@SETTINGS
@given(node_facts(), st.floats(1, 3600), st.floats(0, 1))
def test_checks_give_a_verdict_for_any_facts_and_never_certify_an_inactive_node(
    facts: NodeFacts, interval_s: float, share: float
) -> None:
    record("property_examples")
    verdict = evaluate(facts, CertificationPolicy(usage_interval_s=interval_s, availability_min_share=share),
                       AnyCatalog())
    failures = verdict.failures()
    assert all(reason for reason in failures.values()), "a failing check must say why"
    if facts.status != "active" or facts.last_seen_at is None or facts.inventory is None:
        assert not verdict.certified
    if verdict.certified:
        assert facts.inventory is not None and facts.inventory.location.rack in facts.registered_racks
    assert set(verdict.excluded_accelerators) <= {a.index for a in facts.inventory.accelerators} | {
        u.index for u in (facts.latest_usage.accelerators if facts.latest_usage else [])} if facts.inventory else True
