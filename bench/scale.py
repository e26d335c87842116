"""Scale: N simulated nodes (100 000 by default) through two control-plane processes on one PostgreSQL;
capacity query latency while ingest runs (target p99 <= 20 ms), ingest rates, and each process's memory.

    python bench/scale.py                       # the recorded run: 100 000 nodes, 2 processes
    python bench/scale.py --nodes 2000          # a quick one

The simulator runs in this process, the capacity prober in its own (so neither's event loop delays
the other's clock), and the control planes as real `suanli serve` processes. The last line printed
is the JSON result (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from suanli.sim.compare import capacity_mismatches  # noqa: E402
from suanli.sim.driver import SimConfig, Simulator  # noqa: E402
from suanli.sim.fleet import Fleet, make_datacenters  # noqa: E402
from suanli.sim.processes import ServeProcess, admin  # noqa: E402
from suanli.sim.stats import percentile  # noqa: E402
from suanli.sim.tokens import create_tokens_async  # noqa: E402

from _scratch_postgres import admin_sql, scratch_database_url  # noqa: E402  (bench/ is sys.path[0])

P99_TARGET_MS = 20.0
AGENT_USAGE_INTERVAL_S = 30.0
PROVINCES = "CN-SD,CN-JS,CN-GD,CN-GZ,CN-NM,CN-NX,CN-GS,CN-HE"
PHASES = ("setup", "enroll", "usage", "idle")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--datacenters", type=int, default=100)
    parser.add_argument("--provinces", default=PROVINCES)
    parser.add_argument("--servers", type=int, default=2, help="control-plane processes taking ingest (default 2)")
    parser.add_argument("--query-servers", type=int, default=0,
                        help="extra processes that only answer the capacity queries (default 0: the ingest ones do)")
    parser.add_argument("--postgres", default=os.environ.get("SUANLI_BENCH_POSTGRES")
                        or os.environ.get("SUANLI_TEST_POSTGRES") or "postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server where a fresh database is created for the run and dropped after it")
    parser.add_argument("--cycles", type=int, default=1, help="usage reports per node while probing (default 1)")
    parser.add_argument("--usage-interval-s", type=float, default=0.0,
                        help="spread each usage cycle over this long (default 0: as fast as the servers take it)")
    parser.add_argument("--concurrency", type=int, default=128)
    parser.add_argument("--probe-pause-s", type=float, default=0.05, help="pause between capacity queries")
    parser.add_argument("--idle-queries", type=int, default=300, help="capacity queries after ingest stops")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the database and logs for inspection")
    return parser.parse_args(argv)


def probe(urls: list[str], key: str, phase, stop, pause_s: float, queue) -> None:
    """In its own process: `GET /v1/capacity?by=province` round-robin over the servers until told to stop;
    sends back (phase, latency_ms, status) per query."""
    connections = [http.client.HTTPConnection(urlsplit(u).hostname, urlsplit(u).port, timeout=60) for u in urls]
    samples, turn = [], 0
    while not stop.is_set():
        connection = connections[turn % len(connections)]
        turn += 1
        started = time.perf_counter()
        try:
            connection.request("GET", "/v1/capacity?by=province", headers={"Authorization": f"Bearer {key}"})
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            connection.close()
            status = 0
        samples.append((PHASES[phase.value], (time.perf_counter() - started) * 1000, status))
        time.sleep(pause_s)
    queue.put(samples)


def _latency_summary(samples: list[tuple[str, float, int]]) -> dict[str, dict]:
    out = {}
    for name in PHASES[1:]:
        ok = [ms for phase, ms, status in samples if phase == name and status == 200]
        failed = sum(1 for phase, _, status in samples if phase == name and status != 200)
        p99 = percentile(ok, 0.99)
        out[name] = {"queries": len(ok), "failed": failed, "p50_ms": _round(percentile(ok, 0.50)),
                     "p99_ms": _round(p99), "max_ms": _round(max(ok) if ok else None),
                     "meets_p99_target": p99 is not None and p99 <= P99_TARGET_MS}
    return out


def _per(cpu_s: float, count: int) -> float | None:
    return None if count == 0 else round(1000 * cpu_s / count, 2)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


async def _watch_memory(servers: list[ServeProcess], peaks: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for i, server in enumerate(servers):
            peaks[i] = max(peaks[i], server.rss_bytes())
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def _simulate(fleet: Fleet, servers: list[ServeProcess], tokens: dict[str, str], args, phase,
                    watched: list[ServeProcess]) -> tuple:
    """Run the fleet; each phase change marks the servers' CPU clock and tells the prober which phase it is in."""
    cpu_marks: dict[str, float] = {}

    def on_phase(name: str) -> None:
        cpu_marks[name] = sum(s.cpu_seconds() for s in servers)
        cpu_marks["simulator_" + name] = time.process_time()
        phase.value = PHASES.index("idle" if name == "done" else name)

    config = SimConfig(server=",".join(s.url for s in servers), tokens=tokens, cycles=args.cycles,
                       usage_interval_s=args.usage_interval_s, concurrency=args.concurrency,
                       connections=args.concurrency, seed=args.seed, request_timeout_s=300.0, on_phase=on_phase)
    simulator = Simulator(fleet, config)
    peaks = [0] * len(watched)
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_memory(watched, peaks, stop))
    result = await simulator.run()
    stop.set()
    await watcher
    return result, peaks, cpu_marks


def _import_racks(fleet: Fleet, database_url: str, workdir: Path) -> str:
    """Register the fleet's racks with `suanli racks import` when the control plane has it."""
    path = workdir / "racks.csv"
    path.write_text(fleet.racks_csv())
    try:
        admin("racks", "import", str(path), "--database", database_url, timeout_s=1800)
    except RuntimeError as exc:
        return f"not imported: {str(exc).splitlines()[0][:200]}"
    return "imported"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_servers(count: int, database_url: str, workdir: Path) -> list[ServeProcess]:
    servers = []
    try:
        for number in range(count):
            data_dir = workdir / f"serve{number}"
            data_dir.mkdir()
            servers.append(ServeProcess(database_url, _free_port(), data_dir, workdir / f"serve{number}.log"))
            servers[-1].wait_ready(120)  # one at a time: the first applies the migrations
    except Exception:
        for server in servers:
            server.stop()
        raise
    return servers


def _capacity(server: ServeProcess, key: str) -> dict:
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.request("GET", "/v1/capacity?by=province", headers={"Authorization": f"Bearer {key}"})
    response = connection.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"GET /v1/capacity on {server.url}: {response.status} {body[:500]!r}\n{server.log_tail()}")
    return json.loads(body)


def _idle_latencies(urls: list[str], key: str, queries: int) -> list[tuple[str, float, int]]:
    """Capacity queries with ingest stopped: what an operator sees on a quiet control plane."""
    samples = []
    for number in range(queries):
        parts = urlsplit(urls[number % len(urls)])
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        started = time.perf_counter()
        connection.request("GET", "/v1/capacity?by=province", headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        response.read()
        samples.append(("idle", (time.perf_counter() - started) * 1000, response.status))
        connection.close()
    return samples


def _ingest_figures(result, nodes: int, marks: dict[str, float]) -> dict:
    enroll, usage = result.phases["enroll"], result.phases["usage"]
    required = nodes / AGENT_USAGE_INTERVAL_S
    return {
        "nodes_enrolled": len(result.node_ids),
        # Each enrolled node makes two requests: the enrollment and its first inventory report.
        "enroll_nodes_per_s": round(len(result.node_ids) / enroll.elapsed_s, 1),
        "enroll_requests_per_s": round(enroll.requests / enroll.elapsed_s, 1),
        "enroll_phase_s": round(enroll.elapsed_s, 1),
        "usage_reports_per_s": round(usage.reports_accepted / usage.elapsed_s, 1),
        "usage_reports_needed_per_s": round(required, 1),
        "usage_keeps_up_with_30s_interval": usage.reports_accepted / usage.elapsed_s >= required,
        "report_latency_p50_ms": _round(percentile(usage.latencies_ms, 0.5)),
        "report_latency_p99_ms": _round(percentile(usage.latencies_ms, 0.99)),
        # CPU the ingest processes spent (all of them together), per enrolled node and per usage report:
        # the figure to size a fleet of processes with, whatever else shared the machine.
        "server_cpu_ms_per_enrolled_node": _per(marks["usage"] - marks["enroll"], len(result.node_ids)),
        "server_cpu_ms_per_usage_report": _per(marks["done"] - marks["usage"], usage.reports_accepted),
        # The simulator's own CPU (this process): it must stay well below the servers' to not be the limit.
        "simulator_cpu_ms_per_enrolled_node": _per(marks["simulator_usage"] - marks["simulator_enroll"],
                                                   len(result.node_ids)),
        "simulator_cpu_ms_per_usage_report": _per(marks["simulator_done"] - marks["simulator_usage"],
                                                  usage.reports_accepted),
        "failures": sum(p.failures for p in result.phases.values()),
        "unacknowledged_reports": result.unacknowledged_reports,
        "statuses": {name: p.as_dict()["statuses"] for name, p in result.phases.items()},
    }


async def _setup(args, database_url: str, fleet: Fleet) -> tuple[dict[str, str], str]:
    from suanli.controlplane.db import create_engine
    from suanli.controlplane.store.keys import create_api_key
    from suanli.schema import utc_now

    tokens = await create_tokens_async(database_url, [(dc.name, dc.province) for dc in fleet.datacenters],
                                       dict(Counter(plan.datacenter for plan in fleet.plans)))
    engine = create_engine(database_url)
    try:
        key = await create_api_key(engine, "operator", utc_now(), name="bench/scale.py")
    finally:
        await engine.dispose()
    return tokens, key


def _run(args, database_url: str, workdir: Path) -> dict:
    fleet = Fleet(args.nodes, make_datacenters(args.datacenters, args.provinces.split(",")), seed=args.seed)
    everyone = _start_servers(args.servers + args.query_servers, database_url, workdir)
    servers, readers = everyone[:args.servers], everyone[args.servers:] or everyone[:args.servers]
    context = multiprocessing.get_context("spawn")
    phase, stop, queue = context.Value("i", 0), context.Event(), context.Queue()
    try:
        racks = _import_racks(fleet, database_url, workdir)
        tokens, key = asyncio.run(_setup(args, database_url, fleet))
        urls = [s.url for s in readers]
        prober = context.Process(target=probe, args=(urls, key, phase, stop, args.probe_pause_s, queue))
        prober.start()
        started = time.perf_counter()
        result, peaks, marks = asyncio.run(_simulate(fleet, servers, tokens, args, phase, everyone))
        wall_s = time.perf_counter() - started
        stop.set()
        samples = queue.get(timeout=120)
        prober.join(30)
        samples += _idle_latencies(urls, key, args.idle_queries)
        answers = [_capacity(server, key) for server in everyone]
        mismatches = capacity_mismatches(result.ledger.totals(), answers[0]["total"], racks=racks == "imported")
        return {
            "nodes": args.nodes, "servers": args.servers, "query_servers": args.query_servers,
            "datacenters": args.datacenters, "racks": racks,
            "wall_s": round(wall_s, 1), "capacity_query": _latency_summary(samples),
            "capacity_p99_target_ms": P99_TARGET_MS, "ingest": _ingest_figures(result, args.nodes, marks),
            "rss_peak_bytes": peaks, "rss_end_bytes": [s.rss_bytes() for s in everyone],
            "capacity_equals_ledger": not mismatches, "mismatches": mismatches[:5],
            "servers_agree": all(a["total"] == answers[0]["total"] for a in answers),
        }
    finally:
        stop.set()
        for server in everyone:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    name = "suanli_scale_" + uuid.uuid4().hex[:12]
    database_url = scratch_database_url(args.postgres, name)
    asyncio.run(admin_sql(args.postgres, f'CREATE DATABASE "{name}"'))
    workdir = Path(tempfile.mkdtemp(prefix="suanli-scale-"))
    try:
        outcome = _run(args, database_url, workdir)
    except Exception:
        print(f"bench/scale.py: failed; the servers' logs are in {workdir}", file=sys.stderr)
        raise
    finally:
        if not args.keep:
            asyncio.run(admin_sql(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:  # where to look; a recorded run names no path of the machine it ran on
        outcome["database_kept"], outcome["logs"] = database_url, str(workdir)
    print(json.dumps(outcome, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
