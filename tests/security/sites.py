"""Real processes for fault tests: a control plane, an enrolled node, the real agent's spool and delivery."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from suanli.agent.backoff import Backoff
from suanli.agent.delivery import MAX_BATCH_BYTES, Delivery
from suanli.agent.spool import Spool
from suanli.agent.transport import HttpClient
from suanli.controlplane.db import create_engine
from suanli.schema import utc_now
from suanli.sim.processes import admin

from .conftest import small_inventory


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll a condition the processes bring about; the bound only keeps a broken run from hanging."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def enroll_over_http(server_url: str, database_url: str, hostname: str = "gpu-fault") -> tuple[str, str]:
    """A token from the admin command, then `POST /v1/enroll`; returns (node id, credential)."""
    token = admin("token", "create", "--database", database_url, "--datacenter", "dc-jinan-1",
                  "--province", "CN-SD")
    body = json.dumps({"token": token, "inventory": small_inventory(hostname).model_dump(mode="json")}).encode()
    request = urllib.request.Request(server_url + "/v1/enroll", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    return answer["node_id"], answer["credential"]


def stored_seqs(database_url: str, node_id: str) -> list[int]:
    """Every (node, seq) the control plane stored, on either store; a duplicate would show twice."""

    async def read() -> list[int]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text("SELECT seq FROM usage_history WHERE node_id = :n "
                         "UNION ALL SELECT seq FROM inventory_history WHERE node_id = :n"), {"n": node_id})
                return sorted(row[0] for row in rows)
        except Exception:  # not migrated yet, or the database is down for a moment
            return []
        finally:
            await engine.dispose()

    return asyncio.run(read())


SMALL_USAGE_BODY = '{"cpu_percent": 12.5, "memory_used_bytes": 1073741824}'


def fill_spool(state_dir: Path, reports: int, body_json: str = SMALL_USAGE_BODY) -> None:
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    spool = Spool(state_dir, max_bytes=10**9, max_reports=10**7)
    try:
        for _ in range(reports):
            spool.append("usage", body_json, utc_now().isoformat())
    finally:
        spool.close()


class DeliveryThread:
    """The real agent's Delivery draining a spool in a thread, retrying quickly, until empty or stopped."""

    def __init__(self, state_dir: Path, server_url: str, node_id: str, credential: str, batch: int) -> None:
        self.errors: list[str] = []
        self.acked = 0
        self.depth = -1
        self._stop = threading.Event()
        self._args = (state_dir, server_url, node_id, credential, batch)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> "DeliveryThread":
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    async def _run(self) -> None:
        state_dir, server_url, node_id, credential, batch = self._args
        spool = Spool(state_dir, max_bytes=10**9, max_reports=10**7)
        client = HttpClient(server_url, request_timeout_s=30.0)
        delivery = Delivery(spool, client, node_id, credential, batch, Backoff(base_s=0.2, cap_s=1.0))
        try:
            # Delivery.drain's loop, one batch at a time, so the test sees progress as it happens.
            while not self._stop.is_set():
                if not delivery.backoff.ready():
                    await asyncio.sleep(0.05)
                    continue
                batch = spool.pending(self._args[4], MAX_BATCH_BYTES)
                if batch:
                    await delivery.send(batch)
                self.depth, self.acked = spool.depth(), delivery.state.acked_total
                if delivery.state.last_error and delivery.state.last_error not in self.errors:
                    self.errors.append(delivery.state.last_error)
                if self.depth == 0:
                    break
        except Exception as exc:  # surfaced to the test instead of a silent, hanging thread
            self.errors.append(f"delivery thread crashed: {exc!r}")
            raise
        finally:
            client.close()
            spool.close()
