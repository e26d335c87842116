"""The simulator against real `suanli serve` processes: stored capacity equals the simulator's ledger,
on SQLite with one process and on PostgreSQL with two processes sharing one fleet."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from suanli.sim.compare import capacity_mismatches, groups_by
from suanli.sim.driver import SimConfig, Simulator
from suanli.sim.faults import FaultRates
from suanli.sim.fleet import Fleet, make_datacenters
from suanli.sim.processes import ServeProcess, admin
from suanli.sim.tokens import create_tokens_async
from tests.conftest import free_tcp_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("suanli.controlplane.cli") is None,
                       reason="suanli serve (suanli.controlplane.cli) is not there yet"),
]
DATACENTERS = make_datacenters(4, ["CN-SD", "CN-JS", "CN-GZ"])


def _capacity(url: str, key: str, by: str) -> dict:
    request = urllib.request.Request(f"{url}/v1/capacity?by={by}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


async def _tokens(database_url: str, fleet: Fleet) -> dict[str, str]:
    """One token per data center, minted through the control plane's store as `suanli sim --database` does."""
    uses = Counter(plan.datacenter for plan in fleet.plans)
    return await create_tokens_async(database_url, [(dc.name, dc.province) for dc in fleet.datacenters], uses)


def _assert_matches_ledger(answer_by_province: dict, answer_by_datacenter: dict, ledger) -> None:
    assert capacity_mismatches(ledger.totals(), answer_by_province["total"]) == []
    for key, answer in (("province", answer_by_province), ("datacenter", answer_by_datacenter)):
        groups = groups_by(answer, key)
        expected = ledger.totals_by(key)
        assert set(groups) == {name for name, totals in expected.items() if totals.nodes}
        for name, group in groups.items():
            assert capacity_mismatches(expected[name], group) == [], f"{key} {name}"


def _serve(tmp_path: Path, database_url: str, name: str) -> ServeProcess:
    data_dir = tmp_path / name
    data_dir.mkdir()
    server = ServeProcess(database_url, free_tcp_port(), data_dir, tmp_path / f"{name}.log")
    server.wait_ready()
    return server


async def test_500_simulated_nodes_on_sqlite_capacity_equals_the_ledger(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'suanli.db'}"
    server = _serve(tmp_path, database_url, "serve")
    try:
        fleet = Fleet(500, DATACENTERS, seed=21)
        key = admin("key", "create", "--database", database_url, "--role", "operator")
        config = SimConfig(server=server.url, tokens=await _tokens(database_url, fleet), usage_interval_s=0, cycles=1,
                           concurrency=16, connections=16, faults=FaultRates(gpu_lost=0.1, malformed=0.02), seed=21)
        result = await Simulator(fleet, config).run()
        assert len(result.node_ids) == 500, server.log_tail()
        assert result.unacknowledged_reports == 0 and result.malformed.contract_violations == []
        assert result.ledger.totals().accelerators_lost == len(result.faults.gpu_lost) > 0
        _assert_matches_ledger(_capacity(server.url, key, "province"), _capacity(server.url, key, "datacenter"),
                               result.ledger)
    finally:
        server.stop()


@pytest.mark.postgres
async def test_two_control_planes_on_one_postgresql_agree_with_each_other_and_the_ledger(
        tmp_path: Path, postgres_database_url: str) -> None:
    first = _serve(tmp_path, postgres_database_url, "first")
    try:
        second = _serve(tmp_path, postgres_database_url, "second")
    except Exception:
        first.stop()
        raise
    try:
        fleet = Fleet(240, DATACENTERS, seed=22)
        key = admin("key", "create", "--database", postgres_database_url, "--role", "operator")
        config = SimConfig(server=f"{first.url},{second.url}", tokens=await _tokens(postgres_database_url, fleet),
                           usage_interval_s=0, cycles=1, concurrency=16, connections=16, seed=22)
        result = await Simulator(fleet, config).run()
        assert len(result.node_ids) == 240, first.log_tail() + second.log_tail()
        assert result.unacknowledged_reports == 0
        answers = {server.url: {by: _capacity(server.url, key, by) for by in ("province", "datacenter")}
                   for server in (first, second)}
        a, b = answers.values()
        for by in ("province", "datacenter"):
            assert a[by]["total"] == b[by]["total"] and a[by]["groups"] == b[by]["groups"]
        _assert_matches_ledger(a["province"], a["datacenter"], result.ledger)
    finally:
        second.stop()
        first.stop()


def test_suanli_sim_with_database_mints_its_own_tokens_in_one_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    database_url = f"sqlite:///{tmp_path / 'suanli.db'}"
    server = _serve(tmp_path, database_url, "serve")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "suanli.sim", "--server", server.url, "--database", database_url, "--nodes", "40",
             "--datacenters", "3", "--provinces", "CN-SD,CN-JS", "--usage-interval-s", "0", "--cycles", "1",
             "--json"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["nodes_enrolled"] == 40
        key = admin("key", "create", "--database", database_url, "--role", "operator")
        answer = _capacity(server.url, key, "datacenter")
        assert answer["total"]["nodes"] == 40
        assert {g["datacenter"] for g in answer["groups"]} == set(result["ledger"]["by_datacenter"])
    finally:
        server.stop()
