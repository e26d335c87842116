"""Control-plane fixtures: the real app on each store, tokens, keys and enrolled nodes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from suanli.controlplane.app import create_app
from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.store.keys import create_api_key
from suanli.controlplane.store.tokens import create_token
from suanli.schema import Inventory, utc_now

from .factories import inventory


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> ControlPlaneConfig:
    return ControlPlaneConfig(data_dir=tmp_path, database=database_url, auth_cache_ttl_s=0, node_auth_cache_ttl_s=0)


@pytest.fixture
async def client(aiohttp_client: Any, config: ControlPlaneConfig) -> TestClient:
    return await aiohttp_client(create_app(config))


class Helper:
    """Short ways for tests to make tokens, keys and nodes through the real app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.engine = client.app[ENGINE]

    async def token(
        self, datacenter: str = "dc-jinan-1", province: str = "CN-SD", ttl_s: float = 3600, uses: int = 100
    ) -> str:
        created = await create_token(
            self.engine, datacenter, province, timedelta(seconds=ttl_s), uses, utc_now()
        )
        return created.secret

    async def key(self, role: str = "operator") -> dict[str, str]:
        secret = await create_api_key(self.engine, role, utc_now())
        return {"Authorization": f"Bearer {secret}"}

    async def enroll(self, inv: Inventory | None = None, token: str | None = None) -> tuple[str, dict[str, str]]:
        """Enroll a node; returns its id and the headers carrying its credential."""
        inv = inv or inventory()
        token = token or await self.token(inv.location.datacenter or "dc-jinan-1", inv.location.province or "CN-SD")
        response = await self.client.post(
            "/v1/enroll", json={"token": token, "inventory": inv.model_dump(mode="json")}
        )
        assert response.status == 201, await response.text()
        body = await response.json()
        return body["node_id"], {"Authorization": f"Bearer {body['credential']}"}


@pytest.fixture
def helper(client: TestClient) -> Helper:
    return Helper(client)
