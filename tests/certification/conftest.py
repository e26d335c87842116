"""Certification fixtures: the real control-plane app on each store, with helpers to enroll and report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from suanli.controlplane.app import create_app
from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.certification.service import CERTIFICATION, CertificationService
from suanli.controlplane.certification.settings import CertificationSettings
from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.store.keys import create_api_key
from suanli.controlplane.store.locations import ensure_datacenter, upsert_rack
from suanli.controlplane.store.tokens import create_token
from suanli.schema import Inventory, ReportBatch, utc_now

GIB = 2**30
H100_BYTES = 85_520_809_984


def inventory(hostname: str, datacenter: str = "dc-jinan", province: str = "CN-SD", rack: str | None = "R01",
              gpus: int = 2, gpu_prefix: str | None = None) -> Inventory:
    """A small GPU server whose identities derive from its hostname (or a shared GPU prefix)."""
    prefix = gpu_prefix or hostname
    return Inventory.model_validate({
        "host": {"hostname": hostname, "machine_id": f"{abs(hash(hostname)):032x}"[-32:]},
        "location": {"province": province, "datacenter": datacenter, "rack": rack},
        "cpu": {"sockets": 1, "physical_cores": 16, "logical_cores": 32, "base_mhz": 2000.0,
                "isa_features": ["avx2", "fma"]},
        "memory": {"total_bytes": 256 * GIB},
        "accelerators": [
            {"vendor": "nvidia", "index": i, "model": "NVIDIA H100 80GB HBM3", "uuid": f"GPU-{prefix}-{i}",
             "memory_total_bytes": H100_BYTES}
            for i in range(gpus)
        ],
        "block_devices": [{"name": "nvme0n1", "serial": f"SN-{hostname}", "size_bytes": 10**12}],
        "network_interfaces": [{"name": "ib0", "kind": "infiniband", "link_up": True, "ib_rate_gbps": 400.0}],
    })


class Plane:
    """One control plane under test and short ways to populate it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.engine = client.app[ENGINE]
        self.service: CertificationService = client.app[CERTIFICATION]
        self.seq: dict[str, int] = {}

    async def rack(self, name: str, rated_kw: float, datacenter: str = "dc-jinan", province: str = "CN-SD") -> None:
        async with self.engine.begin() as connection:
            dc = await ensure_datacenter(connection, datacenter, province, utc_now())
            await upsert_rack(connection, dc.id, name, rated_kw, utc_now())

    async def key(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await create_api_key(self.engine, role, utc_now())}"}

    async def enroll(self, inv: Inventory) -> tuple[str, dict[str, str]]:
        token = await create_token(self.engine, inv.location.datacenter, inv.location.province,
                                   timedelta(hours=1), 1, utc_now())
        response = await self.client.post("/v1/enroll", json={"token": token.secret, "inventory": inv.model_dump(mode="json")})
        assert response.status == 201, await response.text()
        body = await response.json()
        return body["node_id"], {"Authorization": f"Bearer {body['credential']}"}

    async def report_inventory(self, node_id: str, headers: dict[str, str], inv: Inventory) -> None:
        self.seq[node_id] = self.seq.get(node_id, 0) + 1
        report = {"schema": "v1", "node_id": node_id, "seq": self.seq[node_id], "sent_at": utc_now().isoformat(),
                  "kind": "inventory", "body": inv.model_dump(mode="json")}
        batch = ReportBatch.model_validate({"reports": [report]})
        response = await self.client.post("/v1/reports", data=batch.model_dump_json(by_alias=True), headers=headers)
        assert response.status == 200, await response.text()

    async def report_usage(self, node_id: str, headers: dict[str, str], accelerators: list[dict[str, Any]] | None = None) -> None:
        self.seq[node_id] = self.seq.get(node_id, 0) + 1
        report = {"schema": "v1", "node_id": node_id, "seq": self.seq[node_id], "sent_at": utc_now().isoformat(),
                  "kind": "usage", "body": {"cpu_percent": 5.0, "accelerators": accelerators or []}}
        batch = ReportBatch.model_validate({"reports": [report]})
        response = await self.client.post("/v1/reports", data=batch.model_dump_json(by_alias=True), headers=headers)
        assert response.status == 200, await response.text()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> ControlPlaneConfig:
    settings = CertificationSettings(enabled=False, issuer="https://cp.test", certificate_validity_s=3600)
    return ControlPlaneConfig(data_dir=tmp_path, database=database_url, auth_cache_ttl_s=0, node_auth_cache_ttl_s=0, certification=settings)


@pytest.fixture
async def plane(aiohttp_client: Any, config: ControlPlaneConfig) -> Plane:
    return Plane(await aiohttp_client(create_app(config)))
