"""A real `suanli-agent run` process under a fake systemd: READY, WATCHDOG and STOPPING over a datagram socket."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
from fakes.control_plane import CREDENTIAL, NODE_ID, FakeControlPlane

from suanli.agent.enrollment import Enrollment, save_enrollment

pytestmark = pytest.mark.integration


async def receive_until(sock: socket.socket, messages: list[str], done: str, count: int = 1) -> None:
    """Collect datagrams until `done` was seen `count` times; the bound only stops a broken test."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(60):
        while sum(m.splitlines()[0] == done for m in messages) < count:
            messages.append((await loop.sock_recv(sock, 4096)).decode())


async def start_agent(tmp_path: Path, state_dir: Path, notify_path: Path) -> asyncio.subprocess.Process:
    """`suanli-agent run` as systemd would start it: NOTIFY_SOCKET and WATCHDOG_USEC set."""
    (tmp_path / "agent.toml").touch()
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(notify_path),
        "WATCHDOG_USEC": "1000000",  # pings every 0.5 s
        "SUANLI_AGENT_USAGE_INTERVAL_S": "1",
        "SUANLI_AGENT_DELIVERY_INTERVAL_S": "0.2",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "suanli.agent.cli", "run", "--state-dir", str(state_dir),
        "--config", str(tmp_path / "agent.toml"), env=env, stderr=asyncio.subprocess.PIPE,
    )


async def test_agent_process_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, plane: FakeControlPlane, server_url: str
) -> None:
    state_dir = tmp_path / "state"
    save_enrollment(state_dir, Enrollment(server_url, NODE_ID, CREDENTIAL, "dc-1", "CN-SD", "2026-11-21T08:00:00Z"))
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.setblocking(False)
    agent = await start_agent(tmp_path, state_dir, notify_path)
    messages: list[str] = []
    try:
        await receive_until(sock, messages, "READY=1")
        await receive_until(sock, messages, "WATCHDOG=1", count=2)
        agent.send_signal(signal.SIGHUP)  # reload: RELOADING=1, then READY=1 again
        await receive_until(sock, messages, "READY=1", count=2)
        agent.send_signal(signal.SIGTERM)
        await receive_until(sock, messages, "STOPPING=1")
        async with asyncio.timeout(60):
            _, stderr = await agent.communicate()
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
        sock.close()
    log = stderr.decode()
    assert agent.returncode == 0, log
    assert messages.index("STOPPING=1") > messages.index("WATCHDOG=1")
    assert any(m.startswith("RELOADING=1") for m in messages)
    assert "event=config.reloaded" in log
    assert any(r["kind"] == "usage" for r in plane.stored.values()), log
    assert "event=agent.ready" in log and "event=agent.stopped" in log
    assert CREDENTIAL not in log
