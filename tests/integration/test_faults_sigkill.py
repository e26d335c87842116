"""`suanli serve` killed with SIGKILL while the real agent delivery streams large batches: whole batches or nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from conftest import free_tcp_port
from security.counts import record
from security.sites import DeliveryThread, enroll_over_http, fill_spool, stored_seqs, wait_for

from suanli.sim.processes import ServeProcess

pytestmark = pytest.mark.integration

BATCH = 250
# Enough batches that the kill lands mid-stream however fast ingest is: with 8 (2 000 reports) all
# of them were sometimes stored within one 50 ms poll of the first.
REPORTS = 20_000


def test_sigkill_mid_stream_leaves_whole_batches_and_the_agent_redelivers(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'cp.db'}"
    port = free_tcp_port()
    server = ServeProcess(database_url, port, tmp_path / "data", tmp_path / "serve-1.log")
    sender = None
    try:
        server.wait_ready()
        node_id, credential = enroll_over_http(server.url, database_url)
        fill_spool(tmp_path / "agent", REPORTS)
        sender = DeliveryThread(tmp_path / "agent", server.url, node_id, credential, BATCH).start()
        wait_for(lambda: len(stored_seqs(database_url, node_id)) >= BATCH, "a first batch stored")
        server.process.send_signal(signal.SIGKILL)  # the next batch is on the wire or being written
        server.process.wait(30)
        record("faults_injected")
        at_kill = stored_seqs(database_url, node_id)
        assert len(at_kill) < REPORTS, "the kill came after everything was delivered"
        # Atomic ingest: what survived is a run of whole batches from seq 1, never part of one.
        assert len(at_kill) % BATCH == 0 and at_kill == list(range(1, len(at_kill) + 1))
        server.stop()
        server = ServeProcess(database_url, port, tmp_path / "data", tmp_path / "serve-2.log")
        server.wait_ready()
        wait_for(lambda: sender.depth == 0, "the agent's spool drained after the restart", timeout_s=120)
    finally:
        if sender is not None:
            sender.stop()
        server.stop()
    final = stored_seqs(database_url, node_id)
    record("reports_sent", REPORTS)
    record("reports_lost", REPORTS - len(set(final)))
    record("reports_doubled", len(final) - len(set(final)))
    assert final == list(range(1, REPORTS + 1))
    assert sender.errors, "the agent never saw the control plane go away"
