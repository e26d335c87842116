"""Secrets: stored only as hashes, never logged, and the agent's credential file readable by its owner only."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import free_tcp_port
from sqlalchemy import select

from suanli.controlplane.store.tables import metadata
from suanli.sim.processes import ServeProcess, admin

from .conftest import Callers
from .counts import record

AGENT_ENV = {"SUANLI_AGENT_USAGE_INTERVAL_S": "1", "SUANLI_AGENT_INVENTORY_INTERVAL_S": "30",
             "SUANLI_AGENT_DELIVERY_INTERVAL_S": "0.5", "SUANLI_AGENT_SHUTDOWN_FLUSH_S": "5"}


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _all_text(callers: Callers) -> str:
    """Every value of every table, as text: what someone with a copy of the database could read."""
    parts: list[str] = []
    async with callers.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


async def test_the_database_holds_hashes_not_secrets(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    callers = Callers(client)
    token = await callers.token()
    keys = [await callers.key(role) for role in ("operator", "admin", "national")]
    node = await callers.enroll("gpu-a", token)
    secrets = [token, node.credential, *keys]
    dumped = await _all_text(callers)
    for secret in secrets:
        record("secrets_checked")
        assert secret not in dumped
        assert secret[4:] not in dumped  # not even without its kind prefix
        assert sha256(secret) in dumped  # what is kept instead


def agent_command(state_dir: Path, config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "suanli.agent.cli", *args, "--state-dir", str(state_dir), "--config", str(config)]


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def _reports_stored(database: Path) -> int:
    import sqlite3

    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return connection.execute("SELECT count(*) FROM usage_history").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        connection.close()


def _run_agent(state_dir: Path, config: Path, log: Path, database: Path) -> None:
    with log.open("ab") as out:
        agent = subprocess.Popen(agent_command(state_dir, config, "run"), env={**os.environ, **AGENT_ENV},
                                 stdout=out, stderr=out)
        try:
            _wait(lambda: _reports_stored(database) >= 2, "usage reports stored")
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(60)


@pytest.mark.integration
def test_no_secret_in_logs_database_or_world_readable_files(tmp_path: Path) -> None:
    database = tmp_path / "cp.db"
    url = f"sqlite:///{database}"
    token = admin("token", "create", "--database", url, "--datacenter", "dc-jinan-1", "--province", "CN-SD")
    keys = [admin("key", "create", "--database", url, "--role", role) for role in ("operator", "admin")]
    server = ServeProcess(url, free_tcp_port(), tmp_path / "data", tmp_path / "serve.log")
    state_dir, config, agent_log = tmp_path / "agent", tmp_path / "agent.toml", tmp_path / "agent.log"
    config.write_text("")
    try:
        server.wait_ready()
        enrolled = subprocess.run(agent_command(state_dir, config, "enroll", "--server", server.url, "--token", token),
                                  capture_output=True, text=True, env={**os.environ, **AGENT_ENV}, timeout=120)
        assert enrolled.returncode == 0, enrolled.stderr
        agent_log.write_text(enrolled.stdout + enrolled.stderr)
        _run_agent(state_dir, config, agent_log, database)
        _refused_requests(server.url, keys[0])
    finally:
        server.stop()
    credential = _credential(state_dir)
    texts = {"serve log": (tmp_path / "serve.log").read_text(errors="replace"),
             "agent log": agent_log.read_text(errors="replace"),
             "database": b"".join(p.read_bytes() for p in tmp_path.glob("cp.db*")).decode("latin-1")}
    for secret in (token, credential, *keys):
        for where, text in texts.items():
            record("secrets_checked")
            assert secret not in text, f"a secret appears in the {where}"
    _assert_private(state_dir)


def _credential(state_dir: Path) -> str:
    import json

    return json.loads((state_dir / "enrollment.json").read_text())["credential"]


def _refused_requests(url: str, operator_key: str) -> None:
    """Requests whose handling might log what they carry: a bad secret, a good key, a malformed body."""
    import urllib.error
    import urllib.request

    for headers, path, body in (({"Authorization": f"Bearer {operator_key}x"}, "/v1/nodes", None),
                                ({"Authorization": f"Bearer {operator_key}"}, "/v1/nodes", None),
                                ({"Authorization": f"Bearer {operator_key}"}, "/v1/reports", b"{bad")):
        request = urllib.request.Request(url + path, data=body, headers=headers)
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError:
            pass


def _assert_private(state_dir: Path) -> None:
    """The state dir is 0700 and the credential file 0600; nothing in it is readable by others."""
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((state_dir / "enrollment.json").stat().st_mode) == 0o600
    for path in state_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name} is readable by others"
