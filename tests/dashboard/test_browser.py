"""The dashboard in Debian's headless Chromium (Playwright) against a real `suanli serve` and a simulated fleet.

Logs in, checks that the totals shown equal `GET /v1/capacity`, drills into a data center and a node,
saves a screenshot, logs out. Skipped with a reason where Chromium or Playwright is missing; CI installs both.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.sim.driver import SimConfig, Simulator
from suanli.sim.faults import FaultRates
from suanli.sim.fleet import Fleet, make_datacenters
from suanli.sim.processes import ServeProcess, admin
from tests.conftest import free_tcp_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PRECISIONS = ("fp64", "fp64_tensor", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
WAIT_MS = 30_000

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM} (apt-get install chromium; CI does)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed (dev extra)"),
]


def _get(server: str, key: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def fleet_server(tmp_path: Path) -> Iterator[tuple[ServeProcess, str]]:
    """`suanli serve` on SQLite with registered racks and 30 simulated nodes in 3 data centers.

    A tenth claim another node's hardware identities, so the sweep (every second here) quarantines them.
    """
    database_url = f"sqlite:///{tmp_path / 'suanli.db'}"
    fleet = Fleet(30, make_datacenters(3, ["CN-SD", "CN-JS"]), seed=11)
    (tmp_path / "racks.csv").write_text(fleet.racks_csv())
    admin("racks", "import", str(tmp_path / "racks.csv"), "--database", database_url)
    env = {"SUANLI_DASHBOARD__SAMPLE_INTERVAL_S": "1", "SUANLI_CERTIFICATION__SWEEP_INTERVAL_S": "1"}
    server = ServeProcess(database_url, free_tcp_port(), tmp_path / "data", tmp_path / "serve.log", env=env)
    try:
        server.wait_ready()
        key = admin("key", "create", "--database", database_url, "--role", "operator")
        uses = Counter(plan.datacenter for plan in fleet.plans)
        tokens = {dc.name: admin("token", "create", "--database", database_url, "--datacenter", dc.name,
                                 "--province", dc.province, "--uses", str(uses[dc.name])) for dc in fleet.datacenters}
        config = SimConfig(server=server.url, tokens=tokens, usage_interval_s=0, cycles=2, concurrency=8,
                           connections=8, faults=FaultRates(duplicate_identity=0.1), seed=11)
        result = asyncio.run(Simulator(fleet, config).run())
        assert len(result.node_ids) == 30, server.log_tail()
        yield server, key
    finally:
        server.stop()


def _tiles(page: Any) -> dict[str, str]:
    return page.eval_on_selector_all("#totals-list .tile", "ts => Object.fromEntries(ts.map(t => [t.dataset.total, t.dataset.value]))")


def _check_totals(page: Any, total: dict[str, Any]) -> None:
    tiles = _tiles(page)
    for name in ("nodes", "cpu_physical_cores", "cpu_logical_cores", "memory_bytes", "accelerators_total",
                 "accelerators_in_use", "storage_bytes", "standard_racks"):
        assert float(tiles[name]) == total[name], name
    for precision in PRECISIONS:
        assert float(tiles[f"flops.{precision}"]) == total["flops"][precision], precision
    assert page.inner_text('[data-total="nodes"] dd') == f"{total['nodes']:,}"


def _drill_down(page: Any, server: str, key: str, datacenter: str) -> None:
    page.click(f'#places-table tbody tr[data-datacenter="{datacenter}"]')
    page.wait_for_selector("#drill:not([hidden]) #nodes-table tbody tr[data-node]", timeout=WAIT_MS)
    assert page.inner_text("#drill-title") == f"Data center {datacenter}"
    racks = _get(server, key, f"/v1/capacity?by=rack&datacenter={datacenter}")["groups"]
    assert page.locator("#racks-table tbody tr").count() == len(racks) > 0
    nodes = _get(server, key, f"/v1/nodes?datacenter={datacenter}&limit=500")["nodes"]
    shown = page.eval_on_selector_all("#nodes-table tbody tr", "rows => rows.map(r => r.dataset.node)")
    assert sorted(shown) == sorted(n["node_id"] for n in nodes)
    page.click(f'#nodes-table tbody tr[data-node="{nodes[0]["node_id"]}"]')
    page.wait_for_selector("#node-detail:not([hidden]) #node-chart svg", timeout=WAIT_MS)
    assert nodes[0]["hostname"] in page.inner_text("#node-title")


def test_dashboard_in_chromium_shows_what_the_api_counts(fleet_server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    server, key = fleet_server
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(server.url + "/")
            assert page.url.endswith("/login")
            page.fill("#key", key)
            page.click("#login")
            page.wait_for_selector("body[data-loaded=true]", timeout=WAIT_MS)
            page.wait_for_selector("#fleet-chart svg", timeout=WAIT_MS)
            capacity = _get(server.url, key, "/v1/capacity?by=datacenter")
            _check_totals(page, capacity["total"])
            shown = page.eval_on_selector_all("#places-table tbody tr", "rows => rows.map(r => r.dataset.datacenter)")
            assert shown == [g["datacenter"] for g in capacity["groups"]] and len(shown) == 3
            page.wait_for_selector("#attention-table td.failures:has-text('identities_unique')", timeout=WAIT_MS)
            _drill_down(page, server.url, key, capacity["groups"][0]["datacenter"])
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            page.click("#logout")
            page.wait_for_url("**/login", timeout=WAIT_MS)
        finally:
            browser.close()
    assert errors == []
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
