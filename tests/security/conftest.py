"""Security fixtures: the real app on each store with a few callers of every kind, and database snapshots."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import suanli.controlplane.certification.tables  # noqa: F401 - puts the certification tables on the metadata
from suanli.controlplane.app import create_app
from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.certification.settings import CertificationSettings
from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.store.keys import create_api_key
from suanli.controlplane.store.tables import metadata
from suanli.controlplane.store.tokens import create_token
from suanli.schema import Inventory, utc_now

from .counts import summary_lines



def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The measured counts SECURITY.md quotes, printed at the end of every run that loaded these tests."""
    terminalreporter.section("suanli security counts")
    for line in summary_lines():
        terminalreporter.write_line(line)


def make_config(database_url: str, data_dir: Path, **overrides: Any) -> ControlPlaneConfig:
    """The test config: no auth cache (revocations at once), no background sweep (a quiet database)."""
    settings = {"data_dir": data_dir, "database": database_url, "auth_cache_ttl_s": 0, "node_auth_cache_ttl_s": 0,
                "certification": CertificationSettings(enabled=False), **overrides}
    return ControlPlaneConfig(**settings)


@pytest.fixture
def make_client(aiohttp_client: Any, database_url: str, tmp_path: Path) -> Callable[..., Any]:
    """Build the real app on the store under test with config overrides, and a test client for it."""

    async def make(**overrides: Any) -> TestClient:
        return await aiohttp_client(create_app(make_config(database_url, tmp_path, **overrides)))

    return make


@dataclass
class Node:
    node_id: str
    credential: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}", "Content-Type": "application/json"}


def small_inventory(hostname: str, datacenter: str = "dc-jinan-1", province: str = "CN-SD") -> Inventory:
    """A small GPU server whose hardware identities derive from its hostname."""
    digest = hashlib.sha256(hostname.encode()).hexdigest()
    return Inventory.model_validate({
        "host": {"hostname": hostname, "machine_id": digest[:32]},
        "location": {"province": province, "datacenter": datacenter, "rack": "R01"},
        "cpu": {"sockets": 1, "physical_cores": 16, "logical_cores": 32, "base_mhz": 2000.0},
        "memory": {"total_bytes": 256 * 2**30},
        "accelerators": [{"vendor": "nvidia", "index": 0, "model": "NVIDIA H100 80GB HBM3",
                          "uuid": f"GPU-{digest[:12]}", "memory_total_bytes": 85_520_809_984}],
    })


class Callers:
    """Tokens, keys and enrolled nodes made through the real store and API of one app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.engine: AsyncEngine = client.app[ENGINE]

    async def token(self, datacenter: str = "dc-jinan-1", province: str = "CN-SD", uses: int = 100) -> str:
        created = await create_token(self.engine, datacenter, province, timedelta(hours=1), uses, utc_now())
        return created.secret

    async def key(self, role: str) -> str:
        return await create_api_key(self.engine, role, utc_now(), name=f"test-{role}")

    async def enroll(self, hostname: str, token: str | None = None) -> Node:
        inventory = small_inventory(hostname)
        body = {"token": token or await self.token(), "inventory": inventory.model_dump(mode="json")}
        response = await self.client.post("/v1/enroll", json=body)
        assert response.status == 201, await response.text()
        answer = await response.json()
        return Node(answer["node_id"], answer["credential"])


async def snapshot(engine: AsyncEngine) -> dict[str, str]:
    """Every table's rows, hashed: equal snapshots mean a request changed nothing in the database."""
    state: dict[str, str] = {}
    async with engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = (await connection.execute(select(table))).all()
            digest = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
            state[table.name] = f"{len(rows)} rows {digest[:16]}"
    return state
