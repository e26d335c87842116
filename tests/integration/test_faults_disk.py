"""The SQLite store's disk fills up under ingest: 507 `storage_full` with Retry-After, nothing lost, recovery after.

"Disk full" is made without privileges: the serve process gets RLIMIT_FSIZE just above its files'
size (with SIGXFSZ ignored, so a too-large write fails with EFBIG instead of killing it), exactly
what a full file system does to SQLite's writes. Raising the limit from outside (prlimit) is space
coming back.

The limit caps each file, not the two together: whatever is stored lies in the database file or in
its WAL, so at most twice the limit fits, however the WAL is checkpointed and reused meanwhile.
The backlog's bodies alone are made larger than that, so the disk is sure to fill before it is
delivered (with a smaller backlog it filled or not as the checkpoints fell).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_tcp_port
from security.counts import record
from security.sites import DeliveryThread, enroll_over_http, fill_spool, stored_seqs, wait_for

from suanli.schema import Usage

from suanli.sim.processes import suanli_command

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs Linux prlimit")]

BATCH = 50
REPORTS = 2000
HEADROOM_BYTES = 300_000
# A GPU node's usage: ~1.5 KB of JSON a report, ~3 MB the backlog.
USAGE_BODY_JSON = Usage.model_validate({
    "cpu_percent": 12.5, "memory_used_bytes": 2**30,
    "accelerators": [{"index": i, "uuid": f"GPU-{i:08d}-0000-0000-0000-000000000000", "utilization_percent": 97.0,
                      "memory_used_bytes": 2**36, "power_w": 650.0, "temperature_c": 71.0} for i in range(8)],
}).model_dump_json()


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _largest_file_bytes(directory: Path) -> int:
    return max(path.stat().st_size for path in directory.glob("cp.db*"))


def test_disk_full_answers_507_and_recovers_without_losing_a_report(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'cp.db'}"
    port = free_tcp_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("ab") as log:
        server = subprocess.Popen(suanli_command("serve", "--database", database_url, "--listen", f"127.0.0.1:{port}"),
                                  stdout=log, stderr=log, preexec_fn=_ignore_sigxfsz,
                                  env={**os.environ, "SUANLI_DATA_DIR": str(tmp_path / "data")})
    sender = None
    try:
        wait_for(lambda: _healthy(url), "suanli serve ready")
        node_id, credential = enroll_over_http(url, database_url)
        fill_spool(tmp_path / "agent", REPORTS, USAGE_BODY_JSON)
        limit = _largest_file_bytes(tmp_path) + HEADROOM_BYTES
        assert REPORTS * len(USAGE_BODY_JSON) > 2 * limit, "the backlog must not fit in the database and its WAL"
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        record("faults_injected")
        sender = DeliveryThread(tmp_path / "agent", url, node_id, credential, BATCH).start()
        wait_for(lambda: any("507" in error for error in sender.errors), "the disk filled up", timeout_s=120)
        assert server.poll() is None and _healthy(url)  # still serving, only writes refused
        full = stored_seqs(database_url, node_id)
        assert len(full) % BATCH == 0 and full == list(range(1, len(full) + 1)) and len(full) < REPORTS
        resource.prlimit(server.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        wait_for(lambda: sender.depth == 0, "the backlog delivered once space returned", timeout_s=120)
    finally:
        if sender is not None:
            sender.stop()
        server.terminate()
        server.wait(30)
    final = stored_seqs(database_url, node_id)
    record("reports_sent", REPORTS)
    record("reports_lost", REPORTS - len(set(final)))
    record("reports_doubled", len(final) - len(set(final)))
    assert final == list(range(1, REPORTS + 1))
    assert "storage_full on POST /v1/reports" in (tmp_path / "serve.log").read_text()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False
