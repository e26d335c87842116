"""National sync: a full `national pull` of 100 000 certificates and an incremental one of 1 000 changes.

A real `suanli serve` process (SQLite) holds N signed certificates in its feed; the puller (this
process, the code of `suanli national pull`) syncs them over HTTP into a fresh state file, verifying
each feed page's signature, every token's SHA-256 against it and every claim set (with
`--verify-each-token`, every certificate's own signature too); then M changes (half revocations,
half new certificates) are written and the same state is synced again. Targets: full ≤ 10 s, incremental ≤ 0.5 s for the sync (fetch,
verify, store); the national totals over the synced state (`*_totals_s`) are timed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
from sqlalchemy import insert

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from suanli.controlplane import migrate, signing  # noqa: E402
from suanli.controlplane.certification import keystore, store  # noqa: E402
from suanli.controlplane.certification.identities import Identity  # noqa: E402
from suanli.controlplane.db import create_engine  # noqa: E402
from suanli.controlplane.store.keys import create_api_key  # noqa: E402
from suanli.controlplane.store.locations import ensure_datacenter  # noqa: E402
from suanli.controlplane.store.tables import nodes  # noqa: E402
from suanli.national.client import HttpSource  # noqa: E402
from suanli.national.sync import default_workers, sync_source  # noqa: E402
from suanli.national.tally import tally  # noqa: E402
from suanli.national.state import PullState  # noqa: E402
from suanli.schema.national import Capacity, CertificateClaims, Flops  # noqa: E402
from suanli.sim.processes import ServeProcess  # noqa: E402

from _procfs import process_cpu_s  # noqa: E402  (bench/, the script's own folder)

FULL_TARGET_S = 10.0
INCREMENTAL_TARGET_S = 0.5
ISSUER = "https://bench.example"
H100 = {"fp64": 34e12, "fp32": 67e12, "tf32": 494.5e12, "fp16": 989.5e12, "bf16": 989.5e12, "fp8": 1979e12, "int8": 1979e12}


def _free_port() -> int:
    """A TCP port free on localhost right now, for the bench's own server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _certificate(node_id: str, index: int, key: signing.SigningKey, now: datetime) -> store.NewCertificate:
    """An 8-GPU node's certificate as the sweep would issue it: 12 hardware hashes, full capacity."""
    identities = [Identity("machine_id", f"{index:032x}"), Identity("dmi_uuid", f"dmi-{index}")]
    identities += [Identity("accelerator_uuid", f"GPU-{index}-{gpu}") for gpu in range(8)]
    identities += [Identity("disk_serial", f"SN-{index}-{disk}") for disk in range(2)]
    capacity = Capacity(
        cpu_physical_cores=112, cpu_logical_cores=224, memory_bytes=2 * 2**40,
        accelerators={"NVIDIA H100 SXM5 80GB": 8}, flops=Flops(**{p: 8 * v for p, v in H100.items()}),
        storage_local_bytes=7_680_000_000_000, network_storage={f"{index % 50:064x}": 500 * 10**12},
        ports_400g=8, ports_100g=2,
    )
    claims = CertificateClaims(
        iss=ISSUER, sub=node_id, jti=uuid.uuid4().hex, iat=int(now.timestamp()), nbf=int(now.timestamp()),
        exp=int((now + timedelta(days=1)).timestamp()), datacenter=f"dc-{index % 20:02d}", province="CN-SD",
        rack=f"R{index % 500:03d}", capacity=capacity, hardware=sorted(i.digest() for i in identities),
        checks=["enrolled_not_revoked", "heard_recently", "available_over_window", "identities_unique",
                "accelerators_known", "located_in_registered_rack", "accelerators_healthy"],
    )
    return store.NewCertificate(
        certificate_id=claims.jti, node_id=node_id, kid=key.kid, province="CN-SD", datacenter=claims.datacenter,
        rack=claims.rack or "", fingerprint="0" * 64, capacity_json=capacity.model_dump_json(),
        token=signing.sign_jwt(claims.model_dump(mode="json"), key), issued_at=now,
        expires_at=now + timedelta(days=1),
    )


async def _nodes(engine, count: int, start: int, now: datetime) -> list[str]:  # noqa: ANN001
    """Minimal node rows for certificates to refer to (the feed never reads them)."""
    async with engine.begin() as connection:
        dc = await ensure_datacenter(connection, "dc-bench", "CN-SD", now)
        ids = [f"nd-bench-{start + i:07d}" for i in range(count)]
        await connection.execute(insert(nodes), [
            {"id": node_id, "status": "active", "datacenter_id": dc.id, "province_code": "CN-SD",
             "hostname": node_id, "inventory": "{}", "inventory_hash": "", "inventory_changed_at": now,
             "contribution": "{}", "enrolled_at": now, "last_seen_at": now, "status_changed_at": now}
            for node_id in ids
        ])
    return ids


async def populate(engine, count: int, start: int, now: datetime) -> list[store.NewCertificate]:  # noqa: ANN001
    key = signing.active_key(await keystore.load_keys(engine, now))
    node_ids = await _nodes(engine, count, start, now)
    certificates = [_certificate(node_id, start + i, key, now) for i, node_id in enumerate(node_ids)]
    for offset in range(0, count, 5000):
        await store.apply_changes(engine, certificates[offset : offset + 5000], [], [], now)
    return certificates


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process so far (from /proc; 0 where unavailable)."""
    try:
        return process_cpu_s(pid)
    except (OSError, IndexError, ValueError):
        return 0.0


def _own_cpu_s() -> float:
    """CPU seconds of this process and of its reaped children (the verification workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


async def _pull(state: PullState, url: str, api_key: str, server_pid: int, workers: int | None,
                verify_each_token: bool) -> dict:
    """One `national pull` of one source, timing the sync (fetch, verify, store) and the totals apart.

    CPU seconds are counted too (puller, its workers and the server): on a shared machine the wall
    time mostly says how busy the neighbours were.
    """
    cpu_before_s, server_before_s = _own_cpu_s(), _process_cpu_s(server_pid)
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        report = await sync_source(state, url, HttpSource(session, url, api_key), datetime.now(timezone.utc),
                                   workers=workers, verify_each_token=verify_each_token)
        synced = time.perf_counter()
        cpu_s = _own_cpu_s() - cpu_before_s
        server_cpu_s = _process_cpu_s(server_pid) - server_before_s
        counted = tally(state, [url], time.time())
        totals_s = time.perf_counter() - synced
    return {"sync_s": synced - started, "sync_puller_cpu_s": cpu_s, "sync_server_cpu_s": server_cpu_s,
            "totals_s": totals_s, "issued": report.issued, "revoked": report.revoked,
            "held": report.held, "rejected": len(report.rejected), "nodes": sum(counted.nodes_by_province.values())}


async def run(count: int, changes: int, workdir: Path, workers: int | None = None, verify_each_token: bool = False) -> dict:
    database_url = f"sqlite:///{workdir / 'cp.db'}"
    engine = create_engine(database_url)
    now = datetime.now(timezone.utc)
    await migrate.upgrade(engine)
    started = time.perf_counter()
    issued = await populate(engine, count, 0, now)
    setup_s = time.perf_counter() - started
    api_key = await create_api_key(engine, "national", now)
    server = ServeProcess(database_url, _free_port(), workdir, workdir / "serve.log",
                          {"SUANLI_CERTIFICATION__ENABLED": "false", "SUANLI_CERTIFICATION__ISSUER": ISSUER})
    try:
        server.wait_ready()
        state = PullState(workdir / "national.db")
        full = await _pull(state, server.url, api_key, server.process.pid, workers, verify_each_token)
        revoked = [store.Revocation(c.certificate_id, c.node_id, "bench") for c in issued[: changes // 2]]
        await store.apply_changes(engine, [], revoked, [], now)
        await populate(engine, changes - len(revoked), count, now)
        incremental = await _pull(state, server.url, api_key, server.process.pid, workers, verify_each_token)
    finally:
        server.stop()
        await engine.dispose()
    return {
        "certificates": count, "changes": changes, "setup_s": round(setup_s, 2), "workers": workers if workers is not None else default_workers(),
        "verify_each_token": verify_each_token,
        "full_sync_s": round(full["sync_s"], 3), "full_sync_certificates_per_s": round(count / full["sync_s"]),
        "full_sync_target_s": FULL_TARGET_S, "full_totals_s": round(full["totals_s"], 3),
        "full_sync_puller_cpu_s": round(full["sync_puller_cpu_s"], 2), "full_sync_server_cpu_s": round(full["sync_server_cpu_s"], 2),
        "incremental_sync_puller_cpu_s": round(incremental["sync_puller_cpu_s"], 3),
        "incremental_sync_server_cpu_s": round(incremental["sync_server_cpu_s"], 3),
        "load_average_1m": os.getloadavg()[0],
        "incremental_sync_s": round(incremental["sync_s"], 3), "incremental_sync_target_s": INCREMENTAL_TARGET_S,
        "incremental_totals_s": round(incremental["totals_s"], 3),
        "rejected": full["rejected"] + incremental["rejected"],
        "correct": (full["held"] == count and full["nodes"] == count and incremental["held"] == count
                    and incremental["issued"] == changes - changes // 2 and incremental["revoked"] == changes // 2),
        "meets_full_target": full["sync_s"] <= FULL_TARGET_S,
        "meets_incremental_target": incremental["sync_s"] <= INCREMENTAL_TARGET_S,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=None, help="verification processes (default: the CPUs beyond 2, none below 4: checked inline)")
    parser.add_argument("--verify-each-token", action="store_true", help="verify every certificate's own signature too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suanli-bench-national-") as workdir:
        results = asyncio.run(run(args.certificates, args.changes, Path(workdir), args.workers, args.verify_each_token))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
