"""Ingest: which thread bounds the rate. `bench/ingest.py`'s load on one `suanli serve`, and per round
each of its threads' CPU and run-queue wait in µs a report, and how the ingest writer spent the round.

Threads are told apart by their kernel names (`suanli.controlplane.threadname`): `event-loop` (the
main thread), `report-writer`, `wal-checkpoint`, `sqlite-reader`. The writer's time in groups comes
from the server's own /metrics (`suanli_group_commit_transaction_duration_seconds`): `writer_busy` is
the share of the round it spent writing groups, `writer_on_cpu` the share of that time it was on a
CPU (SQLite only: on PostgreSQL the groups run on the event loop, several at once, so `writer_busy`
can pass 1). Off a CPU inside a group, the writer waits for the GIL (after each sqlite3 call, which gives
it up) or for a core: the event loop and the writer taking turns instead of overlapping shows as a
busy writer seldom on a CPU, beside an event loop that is far from a whole core.

    python bench/_ingest_threads.py [--store sqlite|postgresql] [--rounds 4]

PostgreSQL: set SUANLI_BENCH_POSTGRES or SUANLI_TEST_POSTGRES (a database is created and dropped).
Diagnostic only: `make bench` does not run it and RESULTS.md has no generated block of it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import urllib.request
from collections import defaultdict
from pathlib import Path

import ingest  # bench/, the script's own folder
from _procfs import stat_cpu_s

GROUP_SECONDS = "suanli_group_commit_transaction_duration_seconds"
GROUP_REQUESTS = "suanli_group_commit_batch_requests"


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """Per kernel thread name (the main thread as `event-loop`): CPU seconds and seconds spent
    runnable but waiting for a core, summed over the threads of that name."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "event-loop" if task.name == str(pid) else (task / "comm").read_text().strip()
            cpu_s = stat_cpu_s(task / "stat")
            _on_cpu_ns, runqueue_ns, _slices = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        totals[name][0] += cpu_s
        totals[name][1] += int(runqueue_ns) / 1e9
    return {name: (cpu_s, wait_s) for name, (cpu_s, wait_s) in totals.items()}


def scrape(url: str, key: str) -> dict[str, float]:
    """The group-commit sums and counts from the server's /metrics."""
    request = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    wanted = (f"{GROUP_SECONDS}_sum", f"{GROUP_SECONDS}_count", f"{GROUP_REQUESTS}_sum")
    values = {}
    for name in wanted:
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"/metrics has no {name}")
        values[name] = float(match.group(1))
    return values


def measure_round(url: str, key: str, pid: int, work: list, args: argparse.Namespace) -> dict:
    threads_before, metrics_before = thread_times(pid), scrape(url, key)
    rate, _cpu_us, _client_cpu_us = ingest._measure(url, work, args.concurrency, args.batch, pid, args.client)
    threads_after, metrics_after = thread_times(pid), scrape(url, key)
    reports = len(work) * args.batch
    round_s = reports / rate
    row: dict = {"reports_per_s": round(rate)}
    for name, (cpu_s, wait_s) in sorted(threads_after.items()):
        cpu_before_s, wait_before_s = threads_before.get(name, (0.0, 0.0))
        cpu_us, wait_us = (cpu_s - cpu_before_s) * 1e6 / reports, (wait_s - wait_before_s) * 1e6 / reports
        if cpu_us >= 0.05 or wait_us >= 0.05:
            row[f"{name}.cpu_us_per_report"] = round(cpu_us, 1)
            row[f"{name}.runqueue_us_per_report"] = round(wait_us, 1)
    groups = metrics_after[f"{GROUP_SECONDS}_count"] - metrics_before[f"{GROUP_SECONDS}_count"]
    group_s = metrics_after[f"{GROUP_SECONDS}_sum"] - metrics_before[f"{GROUP_SECONDS}_sum"]
    if groups:
        requests = metrics_after[f"{GROUP_REQUESTS}_sum"] - metrics_before[f"{GROUP_REQUESTS}_sum"]
        row["writer.requests_per_group"] = round(requests / groups, 1)
        row["writer.ms_per_group"] = round(group_s * 1e3 / groups, 2)
        row["writer_busy"] = round(group_s / round_s, 3)
        if "report-writer" in threads_after and group_s:  # SQLite: the groups run on the writer's own thread
            writer_cpu_s = threads_after["report-writer"][0] - threads_before.get("report-writer", (0.0, 0.0))[0]
            row["writer_on_cpu"] = round(writer_cpu_s / group_s, 3)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=4)
    ingest.add_load_options(parser)
    args = parser.parse_args()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="suanli-bench-threads-") as tmp:
        workdir = Path(tmp)
        created: list[tuple[str, str]] = []
        database_url = ingest.store_database(args.store, workdir / "ingest.db", created)
        process = None
        try:
            env = {"SUANLI_DATA_DIR": str(workdir)}
            key = ingest.suanli_cli(["key", "create", "--database", database_url, "--role", "operator",
                                     "--name", "bench-threads"], env)
            process, url, nodes = ingest.start_enrolled(database_url, workdir / "serve.log", env, args.nodes, args.gpus)
            seq = 1
            for round_ in range(args.rounds + 1):  # round 0 warms up and is not counted
                per_node = 2 if round_ == 0 else args.requests_per_node
                work = ingest._work(nodes, per_node, args.batch, args.gpus, seq)
                seq += per_node * args.batch
                row = measure_round(url, key, process.pid, work, args)
                if round_:
                    rows.append(row)
                    print(f"round {round_}: " + "  ".join(f"{name} {value}" for name, value in row.items()), flush=True)
        finally:
            if process is not None:
                ingest._stop(process)
            for database in created:
                ingest._drop_postgres(*database)
    names = [name for name in rows[0] if all(name in row for row in rows)]
    summary = {name: round(statistics.median(row[name] for row in rows), 3) for name in names}
    summary.update(store=args.store, rounds=args.rounds, cpus=os.cpu_count())
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
