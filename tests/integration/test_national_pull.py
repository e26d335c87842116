"""Two real control planes (SQLite and PostgreSQL) with simulated agents in two provinces, and a real
`suanli national pull` over both: its totals equal the sum of each plane's signed certified summary."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from suanli.controlplane import migrate
from suanli.controlplane.certification.commands import save_racks
from suanli.controlplane.db import create_engine
from suanli.controlplane.racks_import import parse_csv
from suanli.controlplane.store.keys import create_api_key
from suanli.controlplane.store.tokens import create_token
from suanli.national.progress import Progress
from suanli.national.totals import national_units
from suanli.schema import utc_now
from suanli.schema.national import NationalSummary
from suanli.sim.driver import SimConfig, Simulator
from suanli.sim.fleet import Fleet, make_datacenters
from suanli.sim.processes import ServeProcess, suanli_command
from tests.conftest import free_tcp_port

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
NODES = 24


def _summary(url: str, key: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/national/v1/summary", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Plane:
    """One control plane process with its fleet, racks, national key and certified summary.

    Racks, tokens and keys are written in-process through the same store functions the admin
    commands use (those commands have their own tests); the server and the puller are real processes.
    """

    def __init__(self, tmp_path: Path, name: str, database_url: str, province: str, seed: int) -> None:
        self.tmp_path, self.name, self.database_url, self.seed = tmp_path, name, database_url, seed
        self.fleet = Fleet(NODES, make_datacenters(2, [province]), seed=seed)
        self.key = ""
        self.server: ServeProcess | None = None

    async def start(self) -> None:
        engine = create_engine(self.database_url)
        try:
            await migrate.upgrade(engine)
            errors = await save_racks(engine, parse_csv(self.fleet.racks_csv()).racks, Progress("racks"))
            assert errors == []
            self.key = await create_api_key(engine, "national", utc_now())
            uses = Counter(plan.datacenter for plan in self.fleet.plans)
            tokens = {dc.name: (await create_token(engine, dc.name, dc.province, timedelta(hours=1),
                                                   uses[dc.name], utc_now())).secret
                      for dc in self.fleet.datacenters}
        finally:
            await engine.dispose()
        port = free_tcp_port()
        env = {"SUANLI_CERTIFICATION__SWEEP_INTERVAL_S": "0.5",
               "SUANLI_CERTIFICATION__ISSUER": f"http://127.0.0.1:{port}"}
        (self.tmp_path / self.name).mkdir()
        self.server = ServeProcess(self.database_url, port, self.tmp_path / self.name,
                                   self.tmp_path / f"{self.name}.log", env)
        self.server.wait_ready()
        config = SimConfig(server=self.server.url, tokens=tokens, usage_interval_s=0, cycles=2,
                           concurrency=8, connections=8, seed=self.seed)
        result = await Simulator(self.fleet, config).run()
        assert len(result.node_ids) == NODES, self.server.log_tail()

    def certified_summary(self, timeout_s: float = 60.0) -> NationalSummary:
        """The summary once every node is certified (the sweep runs every 0.5 s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            summary = NationalSummary.model_validate(_summary(self.server.url, self.key)["summary"])
            if summary.totals.nodes == NODES or time.monotonic() > deadline:
                return summary
            time.sleep(0.5)


def _pull(tmp_path: Path, planes: list[Plane]) -> dict[str, Any]:
    sources = [arg for plane in planes if plane.server for arg in ("--source", plane.server.url, "--key", plane.key)]
    done = subprocess.run(suanli_command("national", "pull", *sources, "--state", str(tmp_path / "national.db"), "--json"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return json.loads(done.stdout)


async def test_national_pull_over_sqlite_and_postgresql_planes_adds_up_their_certified_supply(
    tmp_path: Path, postgres_database_url: str
) -> None:
    planes: list[Plane] = []
    try:
        planes.append(Plane(tmp_path, "shandong", f"sqlite:///{tmp_path / 'sd.db'}", "CN-SD", seed=51))
        planes.append(Plane(tmp_path, "jiangsu", postgres_database_url, "CN-JS", seed=52))
        for plane in planes:
            await plane.start()
        summaries = [plane.certified_summary() for plane in planes]
        assert [s.totals.nodes for s in summaries] == [NODES, NODES], [p.server.log_tail() for p in planes]

        pulled = _pull(tmp_path, planes)
        assert pulled["failed_sources"] == {} and pulled["duplicates"] == []
        assert all(source["rejected"] == [] for source in pulled["sources"])
        for province, summary in zip(("CN-SD", "CN-JS"), summaries):
            expected = national_units(summary.totals.capacity, summary.totals.standard_racks)
            got = pulled["by_province"][province]
            assert got["nodes"] == summary.totals.nodes
            for figure in ("standard_racks", "ports_400g", "cpu_physical_cores", "memory_bytes", "accelerators"):
                assert got[figure] == expected[figure], (province, figure)
            for figure in ("eflops_fp16", "eflops_fp32", "eflops_fp64", "storage_eb"):
                assert got[figure] == pytest.approx(expected[figure], rel=1e-9), (province, figure)
        totals = pulled["totals"]
        assert totals["nodes"] == 2 * NODES
        assert totals["standard_racks"] == pytest.approx(sum(s.totals.standard_racks for s in summaries))
        assert totals["eflops_fp16"] == pytest.approx(sum(s.totals.capacity.flops.fp16 for s in summaries) / 1e18)
        assert totals["eflops_fp16"] > 0 and totals["standard_racks"] > 0

        again = _pull(tmp_path, planes)
        assert [s["issued"] for s in again["sources"]] == [0, 0]
        assert again["totals"] == totals
    finally:
        for plane in planes:
            if plane.server is not None:
                plane.server.stop()
