"""CPU cost of one inventory + usage collection of this host (issue target: under 5 ms).

Usage: .venv/bin/python bench/collect.py [--iterations N]
Measures process CPU time (time.process_time: every thread of the process, user + system) over N
collections after a warm-up, with the collectors the default config enables. The last line of
output is the JSON object bench/run_all.py records (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from suanli.agent.config import AgentConfig
from suanli.agent.runner import build_runner

TARGET_MS = 5.0


def measure_ms(iterations: int, warmup: int = 20) -> tuple[float, float, float]:
    """(CPU ms per inventory+usage, CPU ms per inventory, CPU ms per usage), averaged."""
    runner = build_runner(AgentConfig())
    try:
        for _ in range(warmup):
            runner.inventory(), runner.usage()
        started = time.process_time()
        for _ in range(iterations):
            runner.inventory()
        inventory_s = time.process_time() - started
        started = time.process_time()
        for _ in range(iterations):
            runner.usage()
        usage_s = time.process_time() - started
    finally:
        runner.close()
    inventory_ms, usage_ms = inventory_s / iterations * 1000, usage_s / iterations * 1000
    return inventory_ms + usage_ms, inventory_ms, usage_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=500)
    args = parser.parse_args()
    total_ms, inventory_ms, usage_ms = measure_ms(args.iterations)
    print(f"machine: {platform.machine()}, nproc {len(os.sched_getaffinity(0))}, python {platform.python_version()}")
    print(f"inventory: {inventory_ms:.3f} ms CPU, usage: {usage_ms:.3f} ms CPU ({args.iterations} iterations each)")
    verdict = "under" if total_ms < TARGET_MS else "OVER"
    print(f"inventory + usage: {total_ms:.3f} ms CPU ({verdict} the {TARGET_MS:g} ms target)")
    print(json.dumps({
        "collect_cpu_ms": round(total_ms, 3), "collect_target_cpu_ms": TARGET_MS,
        "inventory_cpu_ms": round(inventory_ms, 3), "usage_cpu_ms": round(usage_ms, 3),
        "iterations": args.iterations, "meets_target": total_ms < TARGET_MS,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
