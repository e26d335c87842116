"""Enrollment: stored privately and atomically, never overwritten silently, TLS verified with a custom CA."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import logging
import ssl
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from conftest import free_tcp_port
from fakes.agent_collection import FakeCollection
from fakes.control_plane import CREDENTIAL, NODE_ID, TOKEN, FakeControlPlane

from suanli.agent.enrollment import ENROLLMENT_FILE, EnrollmentError, enroll, load_enrollment
from suanli.agent.logs import configure_logging
from suanli.agent.transport import ssl_context


async def test_enroll_stores_credential_private_and_sends_inventory(
    tmp_path: Path, plane: FakeControlPlane, server_url: str
) -> None:
    state_dir = tmp_path / "state"
    enrollment = await enroll(state_dir, server_url, TOKEN, FakeCollection().inventory())
    assert (enrollment.node_id, enrollment.credential, enrollment.province) == (NODE_ID, CREDENTIAL, "CN-SD")
    assert state_dir.stat().st_mode & 0o777 == 0o700
    assert (state_dir / ENROLLMENT_FILE).stat().st_mode & 0o777 == 0o600
    assert load_enrollment(state_dir) == enrollment
    assert plane.enroll_requests[0]["inventory"]["host"]["hostname"] == "gpu-node-07"
    assert CREDENTIAL not in repr(enrollment)
    assert not [p for p in state_dir.iterdir() if p.name.startswith(".")]  # no temp file left


async def test_existing_enrollment_is_kept_without_force(tmp_path: Path, server_url: str) -> None:
    first = await enroll(tmp_path, server_url, TOKEN, FakeCollection().inventory())
    with pytest.raises(EnrollmentError, match="--force"):
        await enroll(tmp_path, "http://127.0.0.1:9", TOKEN, FakeCollection().inventory())
    assert load_enrollment(tmp_path) == first
    again = await enroll(tmp_path, server_url, TOKEN, FakeCollection().inventory(), force=True)
    assert again.enrolled_at >= first.enrolled_at


async def test_refused_token_writes_nothing_and_says_why(tmp_path: Path, server_url: str) -> None:
    with pytest.raises(EnrollmentError, match="HTTP 401: token_invalid"):
        await enroll(tmp_path, server_url, "wrong-token-0123456789", FakeCollection().inventory())
    assert load_enrollment(tmp_path) is None


async def test_unreachable_server_is_an_enrollment_error(tmp_path: Path) -> None:
    with pytest.raises(EnrollmentError, match="cannot reach"):
        await enroll(tmp_path, f"http://127.0.0.1:{free_tcp_port()}", TOKEN, FakeCollection().inventory())


async def test_logs_never_contain_token_or_credential(tmp_path: Path, server_url: str) -> None:
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        await enroll(tmp_path, server_url, TOKEN, FakeCollection().inventory())
        logging.getLogger("suanli.agent").info("leak %s %s", TOKEN, CREDENTIAL)
    finally:
        configure_logging("info")
    text = stream.getvalue()
    assert "enroll.ok" in text and NODE_ID in text
    assert TOKEN not in text and CREDENTIAL not in text


def test_tls_verification_is_on_by_default() -> None:
    context = ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    unverified = ssl_context(tls_verify=False)
    assert unverified.verify_mode is ssl.CERT_NONE and not unverified.check_hostname


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "suanli test control plane")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cp.pem", tmp_path / "cp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_custom_ca_bundle_is_trusted_and_unknown_ca_refused(tmp_path: Path, plane: FakeControlPlane) -> None:
    pytest.importorskip("cryptography", reason="the controlplane extra provides cryptography")
    cert_path, key_path = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    server = TestServer(plane.app(), host="127.0.0.1")
    await server.start_server(ssl=server_context)
    url = f"https://127.0.0.1:{server.port}"
    try:
        with pytest.raises(EnrollmentError, match="(?i)certificate"):
            await enroll(tmp_path / "a", url, TOKEN, FakeCollection().inventory())
        enrollment = await enroll(tmp_path / "b", url, TOKEN, FakeCollection().inventory(), ca_bundle=str(cert_path))
    finally:
        await server.close()
    assert enrollment.node_id == NODE_ID and enrollment.server_url == url
