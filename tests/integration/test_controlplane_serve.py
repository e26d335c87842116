"""`suanli serve` as a real process: a real agent enrolls and reports over HTTP, operators read it back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_tcp_port

pytestmark = pytest.mark.integration

SUANLI = "import sys; from suanli.controlplane.cli import main; sys.exit(main())"
AGENT = "import sys; from suanli.agent.cli import main; sys.exit(main())"


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    return done.stdout


def _get(url: str, key: str) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_for(predicate, timeout_s: float, what: str, process: subprocess.Popen | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: process exited {process.returncode}")
        try:
            if predicate():
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def test_serve_enroll_report_and_read_back(database_url: str, tmp_path: Path) -> None:
    port = free_tcp_port()
    server_url = f"http://127.0.0.1:{port}"
    token = _run(SUANLI, "token", "create", "--database", database_url, "--datacenter", "dc-int-1",
                 "--province", "CN-SD").strip().splitlines()[-1]
    key = _run(SUANLI, "key", "create", "--database", database_url, "--role", "operator").strip().splitlines()[-1]
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-c", SUANLI, "serve", "--database", database_url,
                               "--listen", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "SUANLI_DATA_DIR": str(tmp_path / "data")})
    agent_env = {"SUANLI_AGENT_USAGE_INTERVAL_S": "1", "SUANLI_AGENT_DELIVERY_INTERVAL_S": "0.2"}
    (tmp_path / "agent.toml").write_text('[location]\ndatacenter = "dc-int-1"\nrack = "R-INT"\n')
    state = ["--config", str(tmp_path / "agent.toml"), "--state-dir", str(tmp_path / "agent")]
    agent = None
    try:
        _wait_for(lambda: urllib.request.urlopen(server_url + "/readyz", timeout=2).status == 200, 60, "readyz", server)
        _run(AGENT, "enroll", "--server", server_url, "--token", token, *state, env=agent_env)
        agent = subprocess.Popen([sys.executable, "-c", AGENT, "run", *state], env={**os.environ, **agent_env},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        [node] = _get(server_url + "/v1/nodes", key)["nodes"]
        _wait_for(lambda: _get(f"{server_url}/v1/nodes/{node['node_id']}", key)["latest_usage"] is not None,
                  60, "the agent's usage", agent)
        detail = _get(f"{server_url}/v1/nodes/{node['node_id']}", key)
        assert detail["datacenter"] == "dc-int-1" and detail["rack"] == "R-INT" and detail["last_seq"] >= 1
        capacity = _get(server_url + "/v1/capacity?by=rack", key)
        [group] = capacity["groups"]
        assert (group["datacenter"], group["rack"], group["nodes"]) == ("dc-int-1", "R-INT", 1)
        assert group["cpu_logical_cores"] == detail["inventory"]["cpu"]["logical_cores"] > 0
        assert group["memory_bytes"] == detail["inventory"]["memory"]["total_bytes"] > 0
        table = _run(SUANLI, "capacity", "--server", server_url, "--key", key, "--by", "datacenter")
        assert "dc-int-1" in table and "TOTAL" in table
        assert node["node_id"] in _run(SUANLI, "nodes", "--server", server_url, "--key", key)
    finally:
        if agent is not None:
            _stop(agent)
        code = _stop(server)
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()[-3000:]
