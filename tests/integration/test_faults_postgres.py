"""PostgreSQL stopped and started again while a real agent reports and a backlog streams in: nothing lost or doubled.

The machine's shared PostgreSQL is never touched: the test runs its own server (initdb + pg_ctl on a
free port) and restarts that one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_tcp_port
from security.counts import record
from security.private_postgres import PrivatePostgres, postgres_bin
from security.sites import DeliveryThread, enroll_over_http, fill_spool, stored_seqs, wait_for

from suanli.agent.status import read_spool_counts
from suanli.sim.processes import ServeProcess, admin

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL server binaries (initdb, pg_ctl) absent")]

BACKLOG = 1500
OUTAGE_S = 3.0
AGENT_ENV = {"SUANLI_AGENT_USAGE_INTERVAL_S": "1", "SUANLI_AGENT_INVENTORY_INTERVAL_S": "30",
             "SUANLI_AGENT_DELIVERY_INTERVAL_S": "0.5", "SUANLI_AGENT_SHUTDOWN_FLUSH_S": "10"}


def agent_command(state_dir: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "suanli.agent.cli", *args, "--state-dir", str(state_dir), "--config", str(config)]


@pytest.fixture
def private_postgres() -> PrivatePostgres:
    try:
        server = PrivatePostgres(free_tcp_port())
    except KeyError:
        pytest.skip("running as root without a `postgres` user to run a private server as")
    server.start()
    yield server
    server.destroy()


class Agent:
    """`suanli-agent enroll` then `suanli-agent run` as processes, like on a server."""

    def __init__(self, tmp_path: Path, server_url: str, database_url: str) -> None:
        self.state_dir, self.config = tmp_path / "agent", tmp_path / "agent.toml"
        self.config.write_text("")
        self.env = {**os.environ, **AGENT_ENV}
        token = admin("token", "create", "--database", database_url, "--datacenter", "dc-pg", "--province", "CN-JS")
        done = subprocess.run(agent_command(self.state_dir, self.config, "enroll", "--server", server_url,
                                            "--token", token), capture_output=True, text=True, env=self.env,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        self.node_id = json.loads((self.state_dir / "enrollment.json").read_text())["node_id"]
        self.log = (tmp_path / "agent.log").open("wb")
        self.process = subprocess.Popen(agent_command(self.state_dir, self.config, "run"), env=self.env,
                                        stdout=self.log, stderr=self.log)

    def spool(self) -> dict:
        return read_spool_counts(self.state_dir)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.log.close()
        return self.process.returncode


def test_postgres_restart_during_ingest_loses_and_doubles_nothing(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    database_url = private_postgres.url
    server = ServeProcess(database_url, free_tcp_port(), tmp_path / "data", tmp_path / "serve.log")
    agent = sender = None
    try:
        server.wait_ready()
        agent = Agent(tmp_path, server.url, database_url)
        backlog_node, credential = enroll_over_http(server.url, database_url, "gpu-backlog")
        fill_spool(tmp_path / "backlog", BACKLOG)
        wait_for(lambda: len(stored_seqs(database_url, agent.node_id)) >= 2, "the agent's first reports stored")
        sender = DeliveryThread(tmp_path / "backlog", server.url, backlog_node, credential, 20).start()
        wait_for(lambda: sender.acked >= 40, "the backlog streaming in")
        private_postgres.stop("fast")  # mid-ingest: open transactions are cut off
        assert sender.depth != 0, "the backlog was delivered before the outage"
        record("faults_injected")
        time.sleep(OUTAGE_S)
        private_postgres.start()
        wait_for(lambda: sender.depth == 0, "the backlog delivered after the restart", timeout_s=120)
        last_seq = agent.spool()["last_seq"]
        wait_for(lambda: len(stored_seqs(database_url, agent.node_id)) >= last_seq, "the agent caught up")
        assert agent.stop() == 0
    finally:
        for process in (sender, agent):
            if process is not None:
                process.stop()
        server.stop()
    assert any("503" in error or "Error" in error for error in sender.errors), sender.errors
    assert "unavailable" in (tmp_path / "serve.log").read_text()
    _assert_exactly_once(stored_seqs(database_url, backlog_node), BACKLOG)
    _assert_exactly_once(stored_seqs(database_url, agent.node_id), agent.spool()["last_seq"])
    assert agent.spool()["depth"] == 0 and agent.spool()["dropped_usage"] == 0


def _assert_exactly_once(stored: list[int], sent: int) -> None:
    record("reports_sent", sent)
    record("reports_lost", len(set(range(1, sent + 1)) - set(stored)))
    record("reports_doubled", len(stored) - len(set(stored)))
    assert stored == list(range(1, sent + 1))
