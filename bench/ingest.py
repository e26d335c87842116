"""Ingest throughput: reports/s through `POST /v1/reports` of `suanli serve` vs a bare aiohttp app.

The bare app only parses the same body with pydantic and answers; both run as separate processes on
loopback and are driven by the same client here, in one run, on SQLite and on PostgreSQL. The ratio
(suanli ÷ bare) is the figure with a target: ≥ 60 % on SQLite, ≥ 40 % on PostgreSQL.

The client is `_http_load` (raw HTTP/1.1, requests built before the clock starts), so that the load
generator takes as little as it can of the cores the servers run on; `--client aiohttp` drives the
same load with aiohttp's client, as every figure before the round of 2026-12-06 22:24 UTC was measured
(bench/RESULTS.md). `client_cpu_us_per_report` says what the client took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

import _http_load  # bench/, the script's own folder
from _procfs import process_cpu_s

REPO_ROOT = Path(__file__).resolve().parent.parent
SUANLI = "import sys; from suanli.controlplane.cli import main; sys.exit(main())"
TARGETS = {"sqlite": 0.60, "postgresql": 0.40}
T0 = datetime.now(timezone.utc) - timedelta(days=1)  # inside the server's sent_at window


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bare_server(port: int) -> None:
    """The comparison: read the body, validate it once with pydantic, answer a BatchAck."""
    from aiohttp import web

    from suanli.schema import BatchAck, ReportBatch

    async def post_reports(request: web.Request) -> web.Response:
        batch = ReportBatch.model_validate_json(await request.read())
        ack = BatchAck(accepted=[r.seq for r in batch.reports])
        return web.Response(body=ack.model_dump_json(), content_type="application/json")

    app = web.Application(client_max_size=16 * 2**20)
    app.add_routes([web.post("/v1/reports", post_reports), web.get("/readyz", lambda r: web.json_response({}))])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _usage(gpus: int, step: int) -> dict:
    return {
        "cpu_percent": float(step % 100), "load_1m": 1.5, "memory_used_bytes": 2**34, "memory_available_bytes": 2**35,
        "accelerators": [
            {"index": i, "uuid": f"GPU-{i:08d}", "utilization_percent": float((step + i) % 100),
             "memory_used_bytes": 2**33, "power_w": 350.0, "temperature_c": 60.0, "ecc_corrected_errors": 0,
             "ecc_uncorrected_errors": 0}
            for i in range(gpus)
        ],
        "filesystems": [{"mountpoint": "/", "size_bytes": 2**40, "used_bytes": 2**39}],
    }


def _bodies(node_id: str, requests: int, batch: int, gpus: int, first_seq: int) -> list[bytes]:
    bodies, seq = [], first_seq
    for _ in range(requests):
        reports = []
        for _ in range(batch):
            reports.append({"schema": "v1", "node_id": node_id, "seq": seq, "kind": "usage",
                            "sent_at": (T0 + timedelta(seconds=30 * seq)).isoformat(), "body": _usage(gpus, seq)})
            seq += 1
        bodies.append(json.dumps({"reports": reports}).encode())
    return bodies


async def _drive_aiohttp(url: str, work: list[tuple[dict, bytes]], concurrency: int) -> float:
    """Post every body with `concurrency` workers of aiohttp's client; the seconds it took."""
    queue: asyncio.Queue[tuple[dict, bytes]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                headers, body = queue.get_nowait()
                async with session.post(url, data=body, headers={**headers, "Content-Type": "application/json"}) as r:
                    if r.status != 200:
                        raise RuntimeError(f"{r.status}: {(await r.text())[:300]}")
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def _wait_ready(url: str, process: subprocess.Popen) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"server exited {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server not ready")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def _inventory(index: int, gpus: int) -> dict:
    return {
        "host": {"hostname": f"bench-{index:05d}"},
        "location": {"rack": f"R{index % 20:02d}"},
        "cpu": {"sockets": 2, "physical_cores": 64, "logical_cores": 128, "base_mhz": 2000.0,
                "isa_features": ["avx2", "fma", "avx512f"], "model": "Intel(R) Xeon(R) Platinum 8480+"},
        "memory": {"total_bytes": 2**40},
        "accelerators": [{"vendor": "nvidia", "index": i, "model": "NVIDIA H100 80GB HBM3",
                          "memory_total_bytes": 85_520_809_984} for i in range(gpus)],
        "network_interfaces": [{"name": "ib0", "kind": "infiniband", "ib_rate_gbps": 400.0}],
    }


async def _enroll(url: str, token: str, nodes: int, gpus: int) -> list[tuple[str, dict]]:
    async with aiohttp.ClientSession() as session:
        async def one(index: int) -> tuple[str, dict]:
            body = {"token": token, "inventory": _inventory(index, gpus)}
            async with session.post(url + "/v1/enroll", json=body) as response:
                answer = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"enroll: {response.status} {answer}")
                return answer["node_id"], {"Authorization": f"Bearer {answer['credential']}"}

        return [await one(i) for i in range(nodes)]


def _work(nodes: list[tuple[str, dict]], per_node: int, batch: int, gpus: int, first_seq: int) -> list:
    """Requests interleaved across nodes, as many agents posting at once would send them."""
    by_node = [(h, _bodies(n, per_node, batch, gpus, first_seq)) for n, h in nodes]
    return [(headers, bodies[i]) for i in range(per_node) for headers, bodies in by_node]


def _measure(url: str, work: list, concurrency: int, batch: int, server_pid: int,
             client: str = "lean") -> tuple[float, float, float]:
    """Reports per second, and the server's and this client's CPU microseconds per report."""
    url += "/v1/reports"
    if client == "lean":
        requests = [_http_load.request_bytes(url, headers, body) for headers, body in work]
        drive = _http_load.drive(url, requests, concurrency)
    else:
        drive = _drive_aiohttp(url, work, concurrency)
    cpu_before_s, client_before_s = process_cpu_s(server_pid), time.process_time()
    seconds = asyncio.run(drive)
    client_s, server_s = time.process_time() - client_before_s, process_cpu_s(server_pid) - cpu_before_s
    reports = len(work) * batch
    return reports / seconds, server_s * 1e6 / reports, client_s * 1e6 / reports


def _postgres_database() -> tuple[str, str] | None:
    """A fresh database on the server named by SUANLI_BENCH_POSTGRES / SUANLI_TEST_POSTGRES, or None."""
    admin = os.environ.get("SUANLI_BENCH_POSTGRES") or os.environ.get("SUANLI_TEST_POSTGRES")
    if not admin:
        return None
    import asyncpg

    name = "suanli_bench_" + uuid.uuid4().hex[:8]

    async def create() -> None:
        connection = await asyncpg.connect(admin)
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()

    asyncio.run(create())
    return admin, name


def _drop_postgres(admin: str, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(admin)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()

    asyncio.run(drop())


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The load's shape, the same for every ingest tool (ingest.py, _ingest_ab.py, _ingest_threads.py)."""
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--requests-per-node", type=int, default=20)
    parser.add_argument("--batch", type=int, default=10, help="usage reports per request")
    parser.add_argument("--gpus", type=int, default=8, help="accelerators per node (usage entries per report)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client", choices=("lean", "aiohttp"), default="lean",
                        help="load generator: lean raw HTTP/1.1 (bench/_http_load.py) or aiohttp's client")


def store_database(store: str, sqlite_path: Path, created: list[tuple[str, str]]) -> str:
    """A database URL for `store`: SQLite at `sqlite_path`, or a fresh PostgreSQL database, noted in
    `created` so the caller drops it (`_drop_postgres`)."""
    if store == "sqlite":
        return f"sqlite:///{sqlite_path}"
    database = _postgres_database()
    if database is None:
        raise SystemExit("set SUANLI_BENCH_POSTGRES or SUANLI_TEST_POSTGRES for --store postgresql")
    created.append(database)
    admin, name = database
    return admin.rsplit("/", 1)[0] + "/" + name


def suanli_cli(args: list[str], env: dict[str, str] | None = None) -> str:
    """The last line `suanli ARGS` printed (where `token create` and `key create` print the secret)."""
    return subprocess.run([sys.executable, "-c", SUANLI, *args], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout.strip().splitlines()[-1]


def start_enrolled(database_url: str, log: Path, env: dict[str, str], nodes: int, gpus: int) -> tuple:
    """`suanli serve` on `database_url` with `nodes` enrolled: (process, url, [(node_id, headers)])."""
    token = suanli_cli(["token", "create", "--database", database_url, "--datacenter", "bench-dc", "--province",
                        "CN-SD", "--uses", str(nodes)], env)
    port = _free_port()
    process = _start(["-c", SUANLI, "serve", "--database", database_url, "--listen", f"127.0.0.1:{port}"], log, env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        return process, url, asyncio.run(_enroll(url, token, nodes, gpus))
    except BaseException:
        _stop(process)
        raise


def bench_store(database_url: str, args: argparse.Namespace, workdir: Path) -> dict:
    """Both servers on this store's data, the same requests to each, one after the other."""
    bare_port = _free_port()
    bare = _start([__file__, "--bare-server", str(bare_port)], workdir / "bare.log")
    bare_url = f"http://127.0.0.1:{bare_port}"
    server = None
    try:
        server, url, nodes = start_enrolled(database_url, workdir / "serve.log", {"SUANLI_DATA_DIR": str(workdir)},
                                            args.nodes, args.gpus)
        _wait_ready(bare_url, bare)
        rates: dict[str, list[float]] = {"suanli": [], "bare": []}
        cpu_us: dict[str, list[float]] = {"suanli": [], "bare": []}
        client_cpu_us: dict[str, list[float]] = {"suanli": [], "bare": []}
        seq = 1
        for round_ in range(args.rounds + 1):  # round 0 warms both up and is not counted
            per_node = 2 if round_ == 0 else args.requests_per_node
            work = _work(nodes, per_node, args.batch, args.gpus, seq)
            seq += per_node * args.batch
            # Interleaved, so a change in the machine's load hits both sides alike.
            for name, target, process in (("bare", bare_url, bare), ("suanli", url, server)):
                rate, cpu, client_cpu = _measure(target, work, args.concurrency, args.batch, process.pid, args.client)
                if round_:
                    rates[name].append(rate)
                    cpu_us[name].append(cpu)
                    client_cpu_us[name].append(client_cpu)
    finally:
        if server is not None:
            _stop(server)
        _stop(bare)
    rate, bare_rate = statistics.median(rates["suanli"]), statistics.median(rates["bare"])
    # Where the ratio comes from: the server's CPU per report (all its threads) against the bare app's.
    return {"reports_per_s": round(rate, 1), "bare_reports_per_s": round(bare_rate, 1),
            "ratio": round(rate / bare_rate, 3),
            "server_cpu_us_per_report": round(statistics.median(cpu_us["suanli"]), 1),
            "bare_cpu_us_per_report": round(statistics.median(cpu_us["bare"]), 1),
            # The load generator shares this machine's cores: what it took of them.
            "client_cpu_us_per_report": round(statistics.median(client_cpu_us["suanli"]), 1),
            "bare_client_cpu_us_per_report": round(statistics.median(client_cpu_us["bare"]), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    add_load_options(parser)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved measurement rounds (median taken)")
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return 0
    results: dict = {"batch_reports": args.batch, "nodes": args.nodes, "concurrency": args.concurrency,
                     "requests_per_round": args.nodes * args.requests_per_node, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="suanli-bench-ingest-") as tmp:
        workdir = Path(tmp)
        results["sqlite"] = bench_store(f"sqlite:///{workdir / 'ingest.db'}", args, workdir)
        database = _postgres_database()
        if database is not None:
            admin, name = database
            try:
                results["postgresql"] = bench_store(admin.rsplit("/", 1)[0] + "/" + name, args, workdir)
            finally:
                _drop_postgres(admin, name)
    for store, target in TARGETS.items():
        if store in results:
            results[store].update(ratio_target=target, meets_target=results[store]["ratio"] >= target)
        else:
            results[store] = {"skipped": "set SUANLI_BENCH_POSTGRES or SUANLI_TEST_POSTGRES to measure it"}
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
