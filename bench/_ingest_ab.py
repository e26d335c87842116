"""Ingest A/B: the working tree's `suanli serve` against a baseline commit's, side by side.

`bench/ingest.py` compares suanli with a bare app; across runs its figures move ±10–30 % with the
machine's other load, more than most single changes. This runs two servers at once instead — A from
a git worktree of `--baseline` (put first on PYTHONPATH), B from this checkout — each on its own
database, enrolls the same nodes in both and drives them with the same requests, alternating which
goes first each round, and prints each round's reports/s and server CPU µs per report, their
medians, and B's CPU over A's per round (keep a change only if most rounds lean one way: an A/A run
spreads 0.88–1.05 per round on the 2-core machine of bench/RESULTS.md).

    python bench/_ingest_ab.py --baseline HEAD~1 [--store sqlite|postgresql] [--rounds 6]
    python bench/_ingest_ab.py --baseline HEAD --b-env SUANLI_GROUP_COMMIT_IN_FLIGHT=3   # a setting

PostgreSQL: set SUANLI_BENCH_POSTGRES or SUANLI_TEST_POSTGRES (two databases are created and dropped).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import ingest  # bench/, the script's own folder

REPO_ROOT = Path(__file__).resolve().parent.parent


def _serve(name: str, source: Path, database_url: str, workdir: Path, extra_env: dict[str, str], args) -> tuple:  # noqa: ANN001
    env = {"PYTHONPATH": str(source), "SUANLI_DATA_DIR": str(workdir / name), **extra_env}
    (workdir / name).mkdir()
    return ingest.start_enrolled(database_url, workdir / f"{name}.log", env, args.nodes, args.gpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="the commit A runs (B is this working tree)")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--b-env", nargs="*", default=[], metavar="NAME=VALUE", help="environment for B only")
    ingest.add_load_options(parser)
    args = parser.parse_args()
    b_env = dict(item.split("=", 1) for item in args.b_env)
    with tempfile.TemporaryDirectory(prefix="suanli-bench-ab-") as tmp:
        workdir = Path(tmp)
        baseline = workdir / "baseline"
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(baseline), args.baseline],
                       check=True, capture_output=True)
        created: list[tuple[str, str]] = []
        servers: dict[str, tuple] = {}
        try:
            for name, source, env in (("A", baseline / "src", {}), ("B", REPO_ROOT / "src", b_env)):
                database_url = ingest.store_database(args.store, workdir / f"{name}.db", created)
                servers[name] = _serve(name, source, database_url, workdir, env, args)
            measured: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
            seq = 1
            for round_ in range(args.rounds + 1):  # round 0 warms both up and is not counted
                per_node = 2 if round_ == 0 else args.requests_per_node
                for name in ("A", "B") if round_ % 2 else ("B", "A"):
                    process, url, nodes = servers[name]
                    work = ingest._work(nodes, per_node, args.batch, args.gpus, seq)
                    rate, cpu_us, _client_cpu_us = ingest._measure(url, work, args.concurrency, args.batch, process.pid,
                                                                    args.client)
                    if round_:
                        measured[name].append((rate, cpu_us))
                seq += per_node * args.batch
                if round_:
                    print(f"round {round_}: " + "  ".join(
                        f"{name} {rows[-1][0]:.0f} reports/s {rows[-1][1]:.1f} µs" for name, rows in measured.items()),
                        flush=True)
        finally:
            for process, _url, _nodes in servers.values():
                ingest._stop(process)
            for database in created:
                ingest._drop_postgres(*database)
            subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(baseline)],
                           capture_output=True)
    summary = {
        name: {"median_reports_per_s": round(statistics.median(r for r, _ in rows)),
               "median_server_cpu_us_per_report": round(statistics.median(c for _, c in rows), 1)}
        for name, rows in measured.items()
    }
    summary["b_over_a_cpu_per_round"] = [round(b[1] / a[1], 3) for a, b in zip(measured["A"], measured["B"])]
    summary.update(baseline=args.baseline, store=args.store, b_env=b_env)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
