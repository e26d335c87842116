"""Real processes: `suanli serve` and `suanli-agent run` through an outage and a SIGKILL; no seq lost or doubled.

The seqs the control plane holds are read from its SQLite database, read-only: inventory seqs are
not exposed over HTTP (only usage history is), and the test should ask nothing of the API beyond
the agent contract.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import free_tcp_port

from suanli.agent.status import read_spool_counts
from suanli.sim.processes import ServeProcess, admin

pytestmark = pytest.mark.integration

AGENT_ENV = {
    "SUANLI_AGENT_USAGE_INTERVAL_S": "1",
    "SUANLI_AGENT_INVENTORY_INTERVAL_S": "10",
    "SUANLI_AGENT_DELIVERY_INTERVAL_S": "0.5",
    # One report per request: a backlog takes many requests, so the SIGKILL lands mid-delivery.
    "SUANLI_AGENT_BATCH_MAX_REPORTS": "1",
    "SUANLI_AGENT_SHUTDOWN_FLUSH_S": "10",
}


THROTTLED = {"SUANLI_RATE_LIMIT_NODE_PER_S": "4", "SUANLI_RATE_LIMIT_NODE_BURST": "4"}


def agent_command(state_dir: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "suanli.agent.cli", *args, "--state-dir", str(state_dir), "--config", str(config)]


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll a condition the processes bring about; the bound only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


def stored_seqs(database: Path, node_id: str) -> list[int]:
    """Every (node, seq) the control plane stored, read-only; duplicates would show twice."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        rows = connection.execute(
            "SELECT seq FROM inventory_history WHERE node_id = ? UNION ALL "
            "SELECT seq FROM usage_history WHERE node_id = ?",
            (node_id, node_id),
        ).fetchall()
    except sqlite3.OperationalError:  # not migrated yet, or locked for a moment
        return []
    finally:
        connection.close()
    return sorted(row[0] for row in rows)


def agent_status(state_dir: Path, config: Path) -> dict:
    """What `suanli-agent status --json` prints (a process of its own, like an admin would run it)."""
    done = subprocess.run(agent_command(state_dir, config, "status", "--json"), capture_output=True, text=True)
    return json.loads(done.stdout)


def spool_depth(state_dir: Path) -> int:
    return read_spool_counts(state_dir).get("depth", -1)


class Site:
    """One control plane (restartable on the same port and database) and one agent's files."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.database = tmp_path / "cp.db"
        self.database_url = f"sqlite:///{self.database}"
        self.port = free_tcp_port()
        self.config, self.state_dir = tmp_path / "agent.toml", tmp_path / "agent-state"
        self.config.write_text("")
        self.env = {**os.environ, **AGENT_ENV}
        self.node_id = ""

    def serve(self, log_name: str, env: dict[str, str] | None = None) -> ServeProcess:
        server = ServeProcess(self.database_url, self.port, self.tmp_path / "cp-data", self.tmp_path / log_name,
                              env=env)
        server.wait_ready()
        return server

    def enroll(self, server: ServeProcess) -> str:
        """Enroll through the real CLI with a fresh token; return the node id."""
        token = admin("token", "create", "--database", self.database_url, "--datacenter", "dc-e2e",
                      "--province", "CN-SD")
        enrolled = subprocess.run(
            agent_command(self.state_dir, self.config, "enroll", "--server", server.url, "--token", token),
            capture_output=True, text=True, env=self.env, timeout=120,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        self.node_id = agent_status(self.state_dir, self.config)["node_id"]
        return self.node_id

    def stored(self) -> list[int]:
        return stored_seqs(self.database, self.node_id)

    def start_agent(self, log_name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / log_name).open("wb")
        command = agent_command(self.state_dir, self.config, "run")
        return subprocess.Popen(command, env=self.env, stderr=log, stdout=log)


def test_every_seq_arrives_exactly_once_through_outage_and_sigkill(tmp_path: Path) -> None:
    site = Site(tmp_path)
    server, agent = site.serve("cp-1.log"), None
    try:
        site.enroll(server)
        stored = site.stored
        agent = site.start_agent("agent-1.log")
        wait_for(lambda: len(stored()) >= 3, "first reports stored")

        server.stop()  # outage: the agent keeps measuring into its spool
        wait_for(lambda: spool_depth(site.state_dir) >= 4, "backlog spooled in the outage")
        before = len(stored())
        # The control plane comes back throttled to 4 requests/s per node (429 + Retry-After), so the
        # backlog drains over seconds and the SIGKILL lands mid-delivery however busy the machine is.
        server = site.serve("cp-2.log", env=THROTTLED)
        wait_for(lambda: len(stored()) > before, "backlog delivery under way")
        agent.send_signal(signal.SIGKILL)  # mid-delivery: acks may be lost, rows not yet deleted
        agent.wait(30)
        assert spool_depth(site.state_dir) > 0, "the kill came after the backlog was gone"

        agent = site.start_agent("agent-2.log")
        wait_for(lambda: spool_depth(site.state_dir) == 0, "backlog drained after restart")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, (tmp_path / "agent-2.log").read_text()
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        server.stop()

    status = agent_status(site.state_dir, site.config)
    last_seq = status["spool"]["last_seq"]
    assert status["spool"]["depth"] == 0 and status["spool"]["dropped_usage"] == 0
    assert last_seq >= 8
    assert stored() == list(range(1, last_seq + 1))  # every seq, once, no gap
