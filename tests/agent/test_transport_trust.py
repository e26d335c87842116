"""Which CAs the agent trusts over https: the system store read lazily from its hashed directory, or a bundle."""

from __future__ import annotations

import http.server
import shutil
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.agent.transport import HttpClient, hashed_system_ca_dir, ssl_context

pytest.importorskip("cryptography", reason="the controlplane extra provides cryptography")
from security.pki import make_pki  # noqa: E402  # needs cryptography


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _new_pki(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a fresh test CA and the certificate it issued for 127.0.0.1."""
    directory.mkdir(parents=True)
    return make_pki(directory)


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _new_pki(tmp_path / "pki")


@pytest.fixture
def tls_server_url(pki: tuple[Path, Path, Path]) -> Iterator[str]:
    """An https server on loopback presenting the test CA's certificate for 127.0.0.1."""
    _, cert, key = pki
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Ok)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _hashed_dir(directory: Path, *ca_paths: Path) -> Path:
    """A CA directory as update-ca-certificates leaves it: each CA under `<subject hash>.0`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command names certificates by subject hash here")
    directory.mkdir(parents=True)
    for ca_path in ca_paths:
        subject_hash = subprocess.run(
            [openssl, "x509", "-noout", "-subject_hash", "-in", str(ca_path)],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()
        shutil.copy(ca_path, directory / f"{subject_hash}.0")
    return directory


@pytest.fixture
def system_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point OpenSSL's system directory at an empty test dir (as systemd starts the agent: no SSL_CERT_FILE)."""
    directory = tmp_path / "system-certs"
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    return directory


def test_a_hashed_system_directory_is_read_lazily(system_store: Path, pki: tuple[Path, Path, Path]) -> None:
    _hashed_dir(system_store, pki[0])
    assert hashed_system_ca_dir() == str(system_store)
    context = ssl_context()
    # nothing parsed up front: OpenSSL reads the issuer from the directory during a handshake
    assert context.get_ca_certs() == []
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname


def test_no_hashed_names_or_an_explicit_bundle_loads_the_bundle(
    system_store: Path, pki: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    system_store.mkdir()
    shutil.copy(pki[0], system_store / "ca-bundle.crt")  # Red Hat's layout: a bundle, no hash links
    assert hashed_system_ca_dir() is None
    _hashed_dir(system_store / "hashed", pki[0])
    monkeypatch.setenv("SSL_CERT_DIR", str(system_store / "hashed"))
    monkeypatch.setenv("SSL_CERT_FILE", str(pki[0]))  # the operator named a bundle: it is loaded
    assert hashed_system_ca_dir() is None
    assert len(ssl_context().get_ca_certs()) == 1


def test_https_trusts_a_ca_found_in_the_hashed_system_directory(
    system_store: Path, pki: tuple[Path, Path, Path], tls_server_url: str
) -> None:
    _hashed_dir(system_store, pki[0])
    client = HttpClient(tls_server_url, 10)
    try:
        response = client.post_sync("/v1/x", b"{}", {})
    finally:
        client.close()
    assert (response.status, response.text) == (200, "ok")


def test_https_refuses_a_server_whose_ca_the_system_directory_lacks(
    system_store: Path, tmp_path: Path, tls_server_url: str
) -> None:
    other_ca, _, _ = _new_pki(tmp_path / "other")
    _hashed_dir(system_store, other_ca)
    assert hashed_system_ca_dir() == str(system_store)
    client = HttpClient(tls_server_url, 10)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.post_sync("/v1/x", b"{}", {})
    finally:
        client.close()


def test_a_custom_ca_bundle_is_trusted_and_a_wrong_one_refused(
    system_store: Path, pki: tuple[Path, Path, Path], tmp_path: Path, tls_server_url: str
) -> None:
    _hashed_dir(system_store, _new_pki(tmp_path / "other")[0])  # the system store does not know the test CA
    trusting = HttpClient(tls_server_url, 10, ca_bundle=pki[0])
    wrong_ca, _, _ = _new_pki(tmp_path / "wrong")
    untrusting = HttpClient(tls_server_url, 10, ca_bundle=wrong_ca)
    try:
        assert trusting.post_sync("/v1/x", b"{}", {}).status == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.post_sync("/v1/x", b"{}", {})
    finally:
        trusting.close()
        untrusting.close()


def test_verification_off_loads_no_cas(system_store: Path, pki: tuple[Path, Path, Path]) -> None:
    _hashed_dir(system_store, pki[0])
    context = ssl_context(tls_verify=False)
    assert context.verify_mode is ssl.CERT_NONE and not context.check_hostname
    assert context.get_ca_certs() == []
