"""TLS: `suanli serve` speaks HTTPS itself; the agent trusts it through a custom CA bundle, and only then."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_tcp_port

from suanli.agent.enrollment import EnrollmentError, enroll
from suanli.controlplane.tls import TlsConfigError, server_ssl_context
from suanli.sim.processes import ServeProcess, admin, suanli_command

from .conftest import small_inventory
from .pki import make_pki


def test_half_a_tls_configuration_is_an_error_not_plain_http(tmp_path: Path) -> None:
    _, cert, key = make_pki(tmp_path)
    assert server_ssl_context(None, None) is None
    with pytest.raises(TlsConfigError):
        server_ssl_context(cert, None)
    with pytest.raises(TlsConfigError):
        server_ssl_context(None, key)
    with pytest.raises(TlsConfigError):
        server_ssl_context(cert, tmp_path / "missing.key")
    assert server_ssl_context(cert, key).minimum_version >= ssl.TLSVersion.TLSv1_2


class TlsServeProcess(ServeProcess):
    """`suanli serve --tls-cert CERT --tls-key KEY`, the options an operator types."""

    def __init__(self, database_url: str, port: int, log_path: Path, cert: Path, key: Path) -> None:
        self._log = log_path.open("ab")
        self.log_path, self.url = log_path, f"https://127.0.0.1:{port}"
        command = suanli_command("serve", "--database", database_url, "--listen", f"127.0.0.1:{port}",
                                 "--tls-cert", str(cert), "--tls-key", str(key))
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "SUANLI_DATA_DIR": str(log_path.parent / "data")})


def test_serve_refuses_half_a_tls_configuration(tmp_path: Path) -> None:
    _, cert, _ = make_pki(tmp_path)
    done = subprocess.run(suanli_command("serve", "--database", f"sqlite:///{tmp_path / 'cp.db'}",
                                         "--tls-cert", str(cert)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "tls_key" in done.stderr


def wait_https(url: str, ca: Path, server: ServeProcess, timeout_s: float = 60.0) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"suanli serve exited: {server.log_tail()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2, context=context) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"no HTTPS answer: {server.log_tail()}")


@pytest.mark.integration
def test_agent_enrolls_over_tls_with_the_custom_ca_and_not_without(tmp_path: Path) -> None:
    ca, cert, key = make_pki(tmp_path)
    database_url = f"sqlite:///{tmp_path / 'cp.db'}"
    token = admin("token", "create", "--database", database_url, "--datacenter", "dc-jinan-1",
                  "--province", "CN-SD", "--uses", "2")
    port = free_tcp_port()
    server = TlsServeProcess(database_url, port, tmp_path / "serve.log", cert, key)
    url = f"https://127.0.0.1:{port}"
    try:
        wait_https(url, ca, server)
        with pytest.raises(EnrollmentError, match="(?i)certificate verify failed"):
            asyncio.run(enroll(tmp_path / "untrusting", url, token, small_inventory("gpu-a")))
        enrolled = asyncio.run(enroll(tmp_path / "trusting", url, token, small_inventory("gpu-b"),
                                      ca_bundle=str(ca)))
        assert enrolled.node_id.startswith("nd-")
        with pytest.raises(EnrollmentError):  # plain HTTP to the TLS port gets nowhere
            asyncio.run(enroll(tmp_path / "plain", f"http://127.0.0.1:{port}", token, small_inventory("gpu-c")))
    finally:
        server.stop()
    assert "https://127.0.0.1" in (tmp_path / "serve.log").read_text()
