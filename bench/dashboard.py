"""What the operators' view costs on a large fleet: p50/p99 of `GET /metrics`, `GET /v1/certification` and
the dashboard's other reads over 100 000 stored nodes on SQLite (`suanli serve` over HTTP, one request at a time).

The fleet is written with `bench/capacity_query.py`'s bulk populate (the control plane's own contributions
and aggregates); `/metrics` reads capacity and certification counts from the database at every scrape.
The certification sweep is off (sweeping 100 000 nodes is another benchmark), so every node is listed
as not yet evaluated: the queries still join and rank every node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capacity_query import populate  # noqa: E402 - the sibling bench's fleet writer

from suanli.sim.processes import ServeProcess, suanli_command  # noqa: E402

SCRAPE_P99_TARGET_MS = 1000.0  # well inside Prometheus' default 10 s scrape timeout
READS = {
    "metrics": "/metrics",
    "certification_page": "/v1/certification?limit=200",
    "capacity_by_datacenter": "/v1/capacity?by=datacenter",
    "utilisation": "/dashboard/utilisation",
}


def _get_ms(url: str, key: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
    return (time.perf_counter() - started) * 1000, body


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def measure(base_url: str, key: str, repeats: int) -> dict:
    samples: dict[str, list[float]] = {name: [] for name in READS}
    sizes = {name: len(_get_ms(base_url + path, key)[1]) for name, path in READS.items()}  # warm-up
    for _ in range(repeats):
        for name, path in READS.items():
            samples[name].append(_get_ms(base_url + path, key)[0])
    result = {name: {"p50_ms": round(statistics.median(v), 2), "p99_ms": round(_p99(v), 2), "bytes": sizes[name]}
              for name, v in samples.items()}
    result["metrics"]["p99_target_ms"] = SCRAPE_P99_TARGET_MS
    result["metrics"]["meets_target"] = result["metrics"]["p99_ms"] < SCRAPE_P99_TARGET_MS
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20, help="times each read is timed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="suanli-bench-dashboard-") as workdir:
        database_url = f"sqlite:///{Path(workdir) / 'suanli.db'}"
        subprocess.run(suanli_command("db", "upgrade", "--database", database_url), check=True, capture_output=True)
        started = time.perf_counter()
        key = asyncio.run(populate(database_url, args.nodes))
        populate_s = time.perf_counter() - started
        server = ServeProcess(database_url, _free_port(), Path(workdir) / "data", Path(workdir) / "serve.log",
                              env={"SUANLI_CERTIFICATION__ENABLED": "false"})
        try:
            server.wait_ready(120)
            result = {"nodes": args.nodes, "store": "sqlite", "populate_s": round(populate_s, 1),
                      **measure(server.url, key, args.repeats)}
        except urllib.error.HTTPError as exc:
            print(f"{exc.url}: {exc.code} {exc.read()[:500]!r}\n{server.log_tail(60)}", file=sys.stderr)
            return 1
        finally:
            server.stop()
    print(json.dumps(result))
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
