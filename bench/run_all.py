"""`make bench`: run every benchmark under bench/ several times and write their medians into RESULTS.md.

Each benchmark is a script that prints, as the last line of its standard output, one JSON object
(see bench/README.md). Numbers anywhere in it are figures; this runner takes the median of each
over the runs and rewrites the generated block of that benchmark's section in RESULTS.md, keeping
every hand-written line (analysis, profiles, notes) as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"


@dataclass(frozen=True)
class Bench:
    name: str
    runs: int  # how many runs the median is over by default
    args: tuple[str, ...] = ()
    directory: Path = BENCH_DIR

    @property
    def script(self) -> Path:
        return self.directory / f"{self.name}.py"

    @property
    def shown_script(self) -> str:
        """The script as the recorded command names it: relative to the repository when inside it."""
        try:
            return str(self.script.relative_to(REPO_ROOT))
        except ValueError:
            return str(self.script)


# In the order they build on each other; scale is one long run (100 000 nodes) unless --runs says more.
BENCHES = (
    Bench("collect", 3),
    Bench("ingest", 3),
    Bench("capacity_query", 3),
    Bench("national", 3),
    Bench("agent_footprint", 3),
    Bench("scale", 1),
)




def discover(directory: Path = BENCH_DIR) -> list[Bench]:
    """The known benchmarks that exist, in order, then any other `bench/*.py` script (3 runs each)."""
    known = [b for b in BENCHES if (directory / f"{b.name}.py").exists()]
    names = {b.name for b in BENCHES} | {"run_all"}
    extra = [Bench(path.stem, 3) for path in sorted(directory.glob("*.py"))
             if path.stem not in names and not path.stem.startswith("_")]
    return [Bench(b.name, b.runs, b.args, directory) for b in known + extra]


@dataclass
class Outcome:
    bench: Bench
    command: str
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)


def last_json_line(stdout: str) -> dict[str, Any] | None:
    """The last line of `stdout` that is a JSON object (benchmarks may log before it)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested objects as dotted paths; lists of scalars kept whole, lists of objects by index."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def medians(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per path: the median of the numbers seen (booleans and text are taken from the last run)."""
    collected: dict[str, list[Any]] = {}
    for result in results:
        for path, value in flatten(result).items():
            collected.setdefault(path, []).append(value)
    out = {}
    for path, values in collected.items():
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        out[path] = statistics.median(numbers) if numbers and len(numbers) == len(values) else values[-1]
    return out


def run_bench(bench: Bench, runs: int, timeout_s: float, extra: list[str]) -> Outcome:
    command = [sys.executable, bench.shown_script, *bench.args, *extra]
    outcome = Outcome(bench, shlex.join(["python", *command[1:]]))
    for number in range(runs):
        print(f"[run_all] {bench.name} run {number + 1}/{runs}: {outcome.command}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            outcome.failures.append(f"run {number + 1}: timed out after {timeout_s:.0f} s")
            continue
        outcome.wall_s.append(time.perf_counter() - started)
        result = last_json_line(done.stdout)
        if done.returncode != 0 and result is None:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            outcome.failures.append(f"run {number + 1}: exit {done.returncode}: {' / '.join(tail)}")
        elif result is None:
            outcome.failures.append(f"run {number + 1}: no JSON object on the last line of its output")
        else:
            outcome.results.append(result)
            if done.returncode != 0:
                outcome.failures.append(f"run {number + 1}: exit {done.returncode} (its figures are kept)")
    return outcome


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.4e}"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, separators=(",", ":"))[:200] + "`"
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_block(outcome: Outcome, stamp: str) -> str:
    """The generated part of one benchmark's section: command, runs, and the median of every figure."""
    lines = [f"Command: `{outcome.command}` — {len(outcome.results)} run(s) recorded {stamp}"
             f" (median wall {statistics.median(outcome.wall_s):.1f} s)." if outcome.wall_s else
             f"Command: `{outcome.command}` — no run completed {stamp}."]
    for failure in outcome.failures:
        lines.append(f"- failed: {failure}")
    if outcome.results:
        lines += ["", f"| figure | median of {len(outcome.results)} |", "| --- | --- |"]
        lines += [f"| `{path}` | {_format(value)} |" for path, value in medians(outcome.results).items()]
    return "\n".join(lines)


def machine_block() -> str:
    """What the figures were measured on: cores, memory, CPU model, OS and Python."""
    cpu_model = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu_model = match.group(1).strip() if match else platform.processor() or "unknown"
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE).group(1))
        memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, AttributeError):
        pass
    return (f"Machine: {os.cpu_count()} cores ({cpu_model}), {memory} memory, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}.")


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- run_all:begin {name} -->", f"<!-- run_all:end {name} -->"


def replace_block(text: str, name: str, block: str, heading: str) -> str:
    """Put `block` between the markers of `name`; else under the section `heading`; else append both."""
    begin, end = _markers(name)
    generated = f"{begin}\n{block}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: generated, text, count=1)
    match = re.search(rf"^##\s+{re.escape(heading)}\b.*$", text, re.MULTILINE | re.IGNORECASE)
    if match:
        return text[: match.end()] + "\n\n" + generated + "\n" + text[match.end():]
    return text.rstrip() + f"\n\n## {heading}\n\n{generated}\n"


def update_results(text: str, outcomes: list[Outcome], stamp: str) -> str:
    if not text.strip():
        text = ("# Benchmark results\n\nWritten by `make bench` (bench/run_all.py); "
                "prose outside the generated blocks is kept.\n")
    text = replace_block(text, "machine", machine_block() + f" Recorded {stamp}.", "Machine")
    for outcome in outcomes:
        text = replace_block(text, outcome.bench.name, render_block(outcome, stamp), outcome.bench.name)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--runs", type=int, help="runs per benchmark (default: 3, scale 1)")
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per run (default 3600)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the file to update (default bench/RESULTS.md)")
    parser.add_argument("--extra", default="", help="arguments passed to every benchmark script, e.g. '--nodes 2000'")
    args = parser.parse_args(argv)
    selected = [b for b in discover() if not args.only or b.name in args.only]
    missing = [b.name for b in BENCHES if not b.script.exists()]
    if missing:
        print(f"[run_all] not present yet, skipped: {', '.join(missing)}", file=sys.stderr)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    outcomes = [run_bench(b, args.runs or b.runs, args.timeout_s, shlex.split(args.extra)) for b in selected]
    text = args.results.read_text() if args.results.exists() else ""
    args.results.write_text(update_results(text, outcomes, stamp))
    print(json.dumps({"bench": "run_all", "ran": [o.bench.name for o in outcomes],
                      "failed": [o.bench.name for o in outcomes if o.failures or not o.results]}))
    return 1 if any(o.failures or not o.results for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
