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


def test_every_seq_arrives_exactly_once_through_outage_and_sigkill(tmp_path: Path) -> None:
    database = tmp_path / "cp.db"
    database_url = f"sqlite:///{database}"
    port = free_tcp_port()
    config, state_dir = tmp_path / "agent.toml", tmp_path / "agent-state"
    config.write_text("")
    env = {**os.environ, **AGENT_ENV}
    token = admin("token", "create", "--database", database_url, "--datacenter", "dc-e2e", "--province", "CN-SD")

    def serve(log_name: str) -> ServeProcess:
        server = ServeProcess(database_url, port, tmp_path / "cp-data", tmp_path / log_name)
        server.wait_ready()
        return server

    def start_agent(log_name: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / log_name).open("wb")
        return subprocess.Popen(agent_command(state_dir, config, "run"), env=env, stderr=log, stdout=log)

    server = serve("cp-1.log")
    agent = None
    try:
        enrolled = subprocess.run(
            agent_command(state_dir, config, "enroll", "--server", server.url, "--token", token),
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        node_id = agent_status(state_dir, config)["node_id"]
        agent = start_agent("agent-1.log")
        wait_for(lambda: len(stored_seqs(database, node_id)) >= 3, "first reports stored")

        server.stop()  # outage: the agent keeps measuring into its spool
        wait_for(lambda: spool_depth(state_dir) >= 4, "backlog spooled in the outage")
        before = len(stored_seqs(database, node_id))
        server = serve("cp-2.log")
        wait_for(lambda: len(stored_seqs(database, node_id)) > before, "backlog delivery under way")
        agent.send_signal(signal.SIGKILL)  # mid-delivery: acks may be lost, rows not yet deleted
        agent.wait(30)
        assert spool_depth(state_dir) > 0, "the kill came after the backlog was gone"

        agent = start_agent("agent-2.log")
        wait_for(lambda: spool_depth(state_dir) == 0, "backlog drained after restart")
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(60) == 0, (tmp_path / "agent-2.log").read_text()
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        server.stop()

    status = agent_status(state_dir, config)
    last_seq = status["spool"]["last_seq"]
    assert status["spool"]["depth"] == 0 and status["spool"]["dropped_usage"] == 0
    assert last_seq >= 8
    assert stored_seqs(database, node_id) == list(range(1, last_seq + 1))  # every seq, once, no gap
