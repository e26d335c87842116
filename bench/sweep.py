"""The certification sweep over N stored nodes: wall time, CPU time and peak RSS of one sweep.

N realistic 8-GPU nodes (machine-id, DMI UUID, eight GPU UUIDs and two disk serials each, in
registered racks, with an 8-GPU usage report as their latest usage) are written to a fresh
PostgreSQL database; then `run_sweep` runs twice, each in a fresh process as a control plane that
just took the certification lease would: the first sweep issues a certificate to every node, the
second finds them all current and renews nothing. Each process reports its own wall time, CPU
time and peak RSS (`ru_maxrss`), which is what the lease holder pays over a process that never
sweeps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from suanli.controlplane.certification.checks import CertificationPolicy
from suanli.controlplane.certification.facts import DigestCache
from suanli.controlplane.certification.settings import CertificationSettings
from suanli.controlplane.certification.sweep import run_sweep
from suanli.controlplane.db import create_engine
from suanli.controlplane.store.nodes import inventory_hash
from suanli.controlplane.store.tables import datacenters, nodes, provinces, racks
from suanli.schema import Inventory, Usage

from _scratch_postgres import admin_sql, scratch_database_url  # bench/ is sys.path[0] when run as a script

SUANLI = "import sys; from suanli.controlplane.cli import main; sys.exit(main())"
PROVINCES = ["CN-BJ", "CN-SH", "CN-GD", "CN-SD", "CN-JS", "CN-ZJ", "CN-SC", "CN-HB", "CN-GZ", "CN-NM"]
NODES_PER_RACK = 20
RACKS_PER_DC = 50
H100_BYTES = 85_520_809_984
WRITE_CHUNK = 2000
ISSUER = "https://cp.bench"


def _inventory(index: int, rack: str) -> Inventory:
    host = f"n{index:07d}"
    return Inventory.model_validate({
        "host": {"hostname": host, "machine_id": f"{index:032x}", "dmi_product_uuid": str(uuid.UUID(int=index + 1))},
        "location": {"rack": rack},
        "cpu": {"sockets": 2, "physical_cores": 64, "logical_cores": 128, "base_mhz": 2100.0,
                "model": "Intel(R) Xeon(R) Platinum 8480+", "isa_features": ["avx2", "fma", "avx512f"]},
        "memory": {"total_bytes": 2**41},
        "accelerators": [{"vendor": "nvidia", "index": i, "model": "NVIDIA H100 80GB HBM3",
                          "uuid": f"GPU-{index:08x}-{i:04x}-4a5b-8c9d-{index * 8 + i:012x}",
                          "memory_total_bytes": H100_BYTES, "driver_version": "550.54.15"}
                         for i in range(8)],
        "block_devices": [{"name": f"nvme{d}n1", "serial": f"S6{index:08d}{d}", "size_bytes": 7_680_000_000_000}
                          for d in range(2)],
        "network_interfaces": [{"name": f"ib{p}", "kind": "infiniband", "link_up": True, "ib_rate_gbps": 400.0}
                               for p in range(8)] + [{"name": "eth0", "link_up": True, "speed_mbps": 100_000}],
    })


def _usage(index: int) -> str:
    return Usage.model_validate({
        "cpu_percent": 41.5, "load_1m": 30.2,
        "accelerators": [{"index": i, "uuid": f"GPU-{index:08x}-{i:04x}-4a5b-8c9d-{index * 8 + i:012x}",
                          "utilization_percent": 87.0, "memory_used_bytes": 60 * 2**30, "power_w": 612.5,
                          "temperature_c": 61.0, "ecc_corrected_errors": 0, "ecc_uncorrected_errors": 0,
                          "retired_pages": 0} for i in range(8)],
    }).model_dump_json(exclude_none=True)


async def populate(url: str, node_count: int, now: datetime) -> None:
    engine = create_engine(url)
    dc_count = -(-node_count // (NODES_PER_RACK * RACKS_PER_DC))
    dcs = []
    async with engine.begin() as connection:
        await connection.execute(provinces.insert(), [{"code": code} for code in PROVINCES])
        for d in range(dc_count):
            province = PROVINCES[d % len(PROVINCES)]
            name = f"dc-{province[3:].lower()}-{d:03d}"
            dc_id = (await connection.execute(datacenters.insert().values(
                name=name, province_code=province, created_at=now))).inserted_primary_key[0]
            await connection.execute(racks.insert(), [
                {"datacenter_id": dc_id, "room": "", "name": f"R{r:03d}", "rated_kw": 40.0, "height_u": 42,
                 "created_at": now} for r in range(RACKS_PER_DC)])
            dcs.append((dc_id, province))
    for start in range(0, node_count, WRITE_CHUNK):
        rows = []
        for index in range(start, min(start + WRITE_CHUNK, node_count)):
            dc_id, province = dcs[index // (NODES_PER_RACK * RACKS_PER_DC)]
            rack = f"R{index // NODES_PER_RACK % RACKS_PER_DC:03d}"
            inventory = _inventory(index, rack)
            rows.append({"id": f"nd-{index:08d}", "status": "active", "datacenter_id": dc_id,
                         "province_code": province, "rack": rack, "hostname": inventory.host.hostname,
                         "inventory": inventory.model_dump_json(), "inventory_hash": inventory_hash(inventory),
                         "inventory_seq": 1, "inventory_changed_at": now, "latest_usage": _usage(index),
                         "usage_seq": 1, "usage_sent_at": now, "contribution": "{}", "enrolled_at": now,
                         "last_seen_at": now, "status_changed_at": now, "last_seq": 1})
        async with engine.begin() as connection:
            await connection.execute(nodes.insert(), rows)
        print(f"  {start + len(rows)} nodes written", file=sys.stderr, flush=True)
    await engine.dispose()


async def _sweep_once(url: str, now: datetime) -> dict:
    engine = create_engine(url)
    settings = CertificationSettings(issuer=ISSUER)
    wall_started, cpu_started = time.perf_counter(), time.process_time()
    stats = await run_sweep(engine, settings, ISSUER, now, cache=DigestCache())
    wall_s, cpu_s = time.perf_counter() - wall_started, time.process_time() - cpu_started
    await engine.dispose()
    return {"nodes": stats.nodes, "certified": stats.certified, "issued": stats.issued, "renewed": stats.renewed,
            "revoked": stats.revoked, "wall_s": round(wall_s, 2), "cpu_s": round(cpu_s, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _sweep_in_child(url: str, now: datetime) -> dict:
    """One sweep in a fresh interpreter: its peak RSS is the sweep's, not the populating's."""
    result = subprocess.run([sys.executable, __file__, "--child", url, "--now", now.isoformat()],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--postgres", default=os.environ.get("SUANLI_BENCH_POSTGRES")
                        or os.environ.get("SUANLI_TEST_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server where a fresh database is created for the run and dropped after it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_sweep_once(args.child, datetime.fromisoformat(args.now)))))
        return 0
    # Every node enrolled and was heard at `populated_at`; both sweeps are dated inside its first
    # usage interval (no report can be missing yet), whatever their own duration.
    populated_at = datetime.now(timezone.utc).replace(microsecond=0)
    assert CertificationPolicy().usage_interval_s > 20
    name = f"suanli_sweep_{uuid.uuid4().hex[:8]}"
    url = scratch_database_url(args.postgres, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    asyncio.run(admin_sql(args.postgres, f'CREATE DATABASE "{name}"'))
    try:
        subprocess.run([sys.executable, "-c", SUANLI, "db", "upgrade", "--database", url], check=True,
                       capture_output=True)
        asyncio.run(populate(url, args.nodes, populated_at))
        first = _sweep_in_child(url, populated_at + timedelta(seconds=10))
        second = _sweep_in_child(url, populated_at + timedelta(seconds=20))
    finally:
        asyncio.run(admin_sql(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert first["issued"] == args.nodes and second["issued"] + second["renewed"] + second["revoked"] == 0, (first, second)
    print(json.dumps({"nodes": args.nodes, "first_sweep": first, "second_sweep": second}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
