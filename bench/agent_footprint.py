"""Agent footprint beside Prometheus node_exporter: RSS over 1 000 cycles, CPU per cycle vs per scrape.

    python bench/agent_footprint.py [--cycles 1000] [--scrapes 300] [--modes http,https,https-system] [--https]

Each mode is one run against its own control plane: `http` (plain), `https` (TLS, the agent trusting
a test CA through its `ca_bundle` config), `https-system` (TLS, no `ca_bundle`: the test CA sits in a
hashed CA directory that the agent is given as the system store, SSL_CERT_DIR, the way
update-ca-certificates keeps /etc/ssl/certs). `--https` is `--modes https`.

One run starts, side by side: a real control plane (`suanli serve`, SQLite), an agent process that
enrolls and then drives its real cycle code back to back (usage collection with the default
collectors, spool write with its fsync, batch POST, ack, spool delete, status file), and
node_exporter (Debian package `prometheus-node-exporter`) on loopback, scraped while the agent runs.
CPU is each process's own user+system time; the agent's is taken over its measured cycles only.
The agent process is started the way systemd starts `suanli-agent run`: with the Environment= of
systemd/suanli-agent.service, loading the agent through `suanli.agent.cli` first (which keeps
OpenSSL out of a plain-http agent), and with no module of this harness beyond the few below, so
its RSS is what an installed agent's would be. Like the console script, the child's `__main__` is
one line and the code it runs comes from compiled modules: running this 400-line file as the
child's script made Python compile it from source, and that, with building and running this
harness's argument parser, left ~2 MB in the child that `suanli-agent run` never holds
(bench/RESULTS.md). The child parses its arguments with the agent's own parser, as `run` does.
The last line of standard output is the JSON result (see bench/README.md).
"""

from __future__ import annotations

# Only what `suanli-agent` itself loads: the harness's own modules (urllib.request loads ssl,
# subprocess, threading, ...) are imported inside the harness functions, not in the agent child.
import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess
    import threading

    from suanli.sim.processes import ServeProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
UNIT_FILE = REPO_ROOT / "systemd" / "suanli-agent.service"
RSS_TARGET_BYTES = 40 * 10**6
CPU_RATIO_TARGET = 0.5
WARMUP_CYCLES = 50
# The agent child's whole `__main__`, as small as the console script's: it imports this file as a
# module (from its compiled cache) and runs `agent_main` with the rest of its command line.
AGENT_CHILD_CODE = (
    "import sys; sys.path.insert(0, sys.argv[1]); import agent_footprint; "
    "sys.exit(agent_footprint.agent_main(sys.argv[2:]))"
)
MODES = ("http", "https", "https-system")


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def private_bytes(pid: int | str = "self") -> int:
    """Memory no other process shares (USS): what the agent adds to a node beyond shared libraries."""
    total = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(("Private_Clean:", "Private_Dirty:")):
            total += int(line.split()[1]) * 1024
    return total


# -- the agent side (a child process, so its RSS is the agent's alone) ------------------------------


def unit_environment(unit_file: Path = UNIT_FILE) -> dict[str, str]:
    """The `Environment=NAME=VALUE` lines of the agent's unit: what systemd gives the agent."""
    values = {}
    for line in unit_file.read_text().splitlines():
        if line.startswith("Environment="):
            for assignment in line.removeprefix("Environment=").split():
                name, _, value = assignment.strip('"').partition("=")
                values[name] = value
    return values


async def agent_cycles(state_dir: Path, config_path: Path, cycles: int) -> dict[str, object]:
    """The agent's side: `run`'s start-up inventory, then usage + delivery cycles back to back."""
    from suanli.agent.config import load_config
    from suanli.agent.enrollment import load_enrollment
    from suanli.agent.runner import build_runner
    from suanli.agent.sdnotify import Notifier
    from suanli.agent.service import AgentService

    config = load_config(config_path, {"state_dir": state_dir})
    enrollment = load_enrollment(state_dir)
    assert enrollment is not None, "not enrolled"
    service = AgentService(config, enrollment, build_runner(config), notifier=Notifier({}))
    service.open()
    await service.inventory_cycle(force=True)
    for _ in range(WARMUP_CYCLES):
        await service.usage_cycle()
        await service.delivery_cycle()
    rss_samples, started_cpu, started_wall = [], time.process_time(), time.perf_counter()
    for cycle in range(1, cycles + 1):
        await service.usage_cycle()
        await service.delivery_cycle()
        if cycle % 100 == 0:
            rss_samples.append(rss_bytes())
    cpu_used_s, wall_s = time.process_time() - started_cpu, time.perf_counter() - started_wall
    acked = service.delivery.state.acked_total if service.delivery else 0
    private = private_bytes()
    depth = service.spool.depth()
    await service.stop()
    return {
        "cycles": cycles,
        "cpu_s": cpu_used_s,
        "wall_s": wall_s,
        "rss_samples_bytes": rss_samples,
        "private_bytes": private,
        "acked": acked,
        "spool_depth_after": depth,
    }


def agent_main(argv: list[str]) -> int:
    """The agent child: `suanli-agent`'s own parser reads `run --state-dir DIR --config PATH`, then
    the cycles run; argv is `[state_dir, config_path, cycles]`."""
    from suanli.agent import cli  # first, as the console script does (suanli.agent.lean)

    state_dir, config_path, cycles = argv
    args = cli.build_parser().parse_args(["run", "--state-dir", state_dir, "--config", config_path])

    import asyncio

    print(json.dumps(asyncio.run(agent_cycles(args.state_dir, args.config, int(cycles)))))
    return 0


# -- the harness ------------------------------------------------------------------------------------


def start_node_exporter(port: int) -> subprocess.Popen[bytes]:
    import shutil
    import subprocess
    import urllib.request

    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        sys.exit("node_exporter is missing: apt-get install -y prometheus-node-exporter")
    process = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("node_exporter did not start")


def scrape(port: int, scrapes: int, stop: threading.Event, result: dict[str, float]) -> None:
    """Scrape node_exporter `scrapes` times, spread over the agent's run (Prometheus-like pacing)."""
    import urllib.request

    url = f"http://127.0.0.1:{port}/metrics"
    done = 0
    while done < scrapes and not stop.is_set():
        with urllib.request.urlopen(url, timeout=10) as response:
            result["metrics_bytes"] = len(response.read())
        done += 1
        time.sleep(0.05)
    result["scrapes"] = done


def enroll_agent(
    server_url: str, database_url: str, state_dir: Path, config_path: Path, agent_env: dict[str, str]
) -> None:
    import subprocess

    from suanli.sim.processes import admin

    token = admin("token", "create", "--database", database_url, "--datacenter", "bench", "--province", "CN-SD")
    subprocess.run(
        [sys.executable, "-m", "suanli.agent.cli", "enroll", "--server", server_url, "--token", token,
         "--state-dir", str(state_dir), "--config", str(config_path)],
        check=True, capture_output=True, timeout=120, env=agent_env,
    )


def hashed_ca_dir(directory: Path, ca_path: Path) -> Path:
    """`ca_path` under its subject hash (`<hash>.0`) in `directory`, as update-ca-certificates files it."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        sys.exit("the https-system mode names the test CA by subject hash with the openssl command: install openssl")
    subject_hash = subprocess.run(
        [openssl, "x509", "-noout", "-subject_hash", "-in", str(ca_path)],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()
    directory.mkdir()
    shutil.copy(ca_path, directory / f"{subject_hash}.0")
    return directory


def wait_https(url: str, ca_path: Path, server: ServeProcess, timeout_s: float = 60.0) -> None:
    """Until `GET /healthz` answers over TLS verified with the test CA."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(ca_path))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            sys.exit(f"suanli serve exited: {server.log_tail()}")
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2, context=context).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("suanli serve (TLS) did not start")


def agent_environment(mode: str, work: Path, ca_path: Path | None) -> dict[str, str]:
    """What the agent processes get: the harness's environment, then the unit's Environment= lines.

    In https-system mode the system store is a hashed directory holding the test CA (SSL_CERT_DIR),
    and SSL_CERT_FILE, which systemd does not set but a developer's shell may, is left out.
    """
    env = {**os.environ, **unit_environment()}
    if mode == "https-system":
        assert ca_path is not None
        env.pop("SSL_CERT_FILE", None)
        env["SSL_CERT_DIR"] = str(hashed_ca_dir(work / "system-certs", ca_path))
    return env


def start_control_plane(work: Path, database_url: str, mode: str) -> tuple[ServeProcess, str, str, dict[str, str]]:
    """`suanli serve`, its URL, and the agent config and environment that reach it (TLS: a test CA)."""
    from conftest import free_tcp_port

    from suanli.sim.processes import ServeProcess

    # The loop sends ~100+ requests/s from one node: switch off the per-node rate limit (20/s),
    # which exists for misbehaving agents and would turn this into a backoff measurement.
    env, agent_config, ca_path = {"SUANLI_RATE_LIMIT_NODE_PER_S": "0"}, 'log_level = "warning"\n', None
    if mode != "http":
        from security.pki import make_pki

        ca_path, cert_path, key_path = make_pki(work)
        env |= {"SUANLI_TLS_CERT": str(cert_path), "SUANLI_TLS_KEY": str(key_path)}
        if mode == "https":
            agent_config += f'ca_bundle = "{ca_path}"\n'
    server = ServeProcess(database_url, free_tcp_port(), work / "cp-data", work / "cp.log", env=env)
    agent_env = agent_environment(mode, work, ca_path)
    if ca_path is None:
        server.wait_ready()
        return server, server.url, agent_config, agent_env
    url = server.url.replace("http://", "https://", 1)
    wait_https(url, ca_path, server)
    return server, url, agent_config, agent_env


def run_side_by_side(work: Path, cycles: int, scrapes: int, mode: str = "http") -> dict[str, object]:
    import subprocess
    import threading

    from _procfs import process_cpu_s

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import free_tcp_port

    database_url = f"sqlite:///{work / 'cp.db'}"
    config_path, state_dir = work / "agent.toml", work / "agent-state"
    server, server_url, agent_config, agent_env = start_control_plane(work, database_url, mode)
    config_path.write_text(agent_config)
    exporter_port = free_tcp_port()
    exporter = start_node_exporter(exporter_port)
    try:
        enroll_agent(server_url, database_url, state_dir, config_path, agent_env)
        agent = subprocess.Popen(
            [sys.executable, "-c", AGENT_CHILD_CODE, str(Path(__file__).resolve().parent), str(state_dir),
             str(config_path), str(cycles)],
            stdout=subprocess.PIPE, text=True, env=agent_env,
        )
        stop, scraped = threading.Event(), {}
        exporter_cpu_before = process_cpu_s(exporter.pid)
        scraper = threading.Thread(target=scrape, args=(exporter_port, scrapes, stop, scraped))
        scraper.start()
        agent_out, _ = agent.communicate(timeout=1800)
        scraper.join()
        exporter_cpu = process_cpu_s(exporter.pid) - exporter_cpu_before
        exporter_rss = rss_bytes(exporter.pid)
    finally:
        exporter.terminate()
        exporter.wait(10)
        server.stop()
    if agent.returncode != 0:
        sys.exit(f"agent loop failed ({agent.returncode})")
    measured = json.loads(agent_out.strip().splitlines()[-1])
    return summarize(measured, exporter_cpu, int(scraped.get("scrapes", 0)), exporter_rss, scraped)


def summarize(
    agent: dict, exporter_cpu_s: float, scrapes: int, exporter_rss: int, scraped: dict
) -> dict[str, object]:
    samples = agent["rss_samples_bytes"]
    per_cycle_ms = agent["cpu_s"] / agent["cycles"] * 1000
    per_scrape_ms = exporter_cpu_s / scrapes * 1000 if scrapes else float("nan")
    ratio = per_cycle_ms / per_scrape_ms if scrapes else float("nan")
    growth = samples[-1] - samples[0]
    # growth over the second half of the run: a leak keeps growing, a warming cache levels off
    late_growth = samples[-1] - samples[len(samples) // 2]
    return {
        "cycles": agent["cycles"],
        "agent_rss_bytes": samples[-1],
        "agent_rss_after_100_cycles_bytes": samples[0],
        "agent_rss_growth_bytes": growth,
        "agent_rss_growth_second_half_bytes": late_growth,
        "agent_rss_target_bytes": RSS_TARGET_BYTES,
        "agent_private_bytes": agent["private_bytes"],
        "agent_cpu_per_cycle_ms": round(per_cycle_ms, 3),
        "agent_cycles_per_s": round(agent["cycles"] / agent["wall_s"], 1),
        "agent_reports_acked": agent["acked"],
        "node_exporter_scrapes": scrapes,
        "node_exporter_cpu_per_scrape_ms": round(per_scrape_ms, 3),
        "node_exporter_rss_bytes": exporter_rss,
        "node_exporter_metrics_bytes": scraped.get("metrics_bytes", 0),
        "cpu_ratio_agent_cycle_to_scrape": round(ratio, 3),
        "cpu_ratio_target": CPU_RATIO_TARGET,
        # "no growth": the second half of the run adds less than 256 KiB (allocator noise)
        "meets_rss_target": samples[-1] <= RSS_TARGET_BYTES and late_growth < 256 * 1024,
        "meets_cpu_target": ratio <= CPU_RATIO_TARGET,
        "all_delivered": agent["spool_depth_after"] == 0,
    }


def _modes(value: str) -> list[str]:
    modes = [mode.strip() for mode in value.split(",") if mode.strip()]
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}; not {', '.join(unknown) or 'none'}")
    return modes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--modes", type=_modes, default=list(MODES),
                        help="comma-separated, each run on its own: " + ", ".join(MODES) + " (default: all)")
    parser.add_argument("--https", dest="modes", action="store_const", const=["https"],
                        help="only https: control plane on TLS (a test CA), the agent then loads OpenSSL")
    args = parser.parse_args()
    import py_compile
    import tempfile

    # The agent child imports this file as a module: compiled once here, not in the measured process.
    py_compile.compile(__file__, doraise=True)

    runs: dict[str, dict[str, object]] = {}
    for mode in args.modes:
        with tempfile.TemporaryDirectory(prefix="suanli-footprint-") as work:
            runs[mode] = run_side_by_side(Path(work), args.cycles, args.scrapes, mode)
    targets = {target: all(run[target] for run in runs.values()) for target in ("meets_rss_target", "meets_cpu_target")}
    print(json.dumps({**runs, **targets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
