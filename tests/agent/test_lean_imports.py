"""What a fresh `suanli-agent` process loads: no control-plane stack, and OpenSSL only for https."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

# Loaded by the agent's cycle code, in a fresh interpreter, through the console script's module.
AGENT_IMPORTS = (
    "import json, sys; import suanli.agent.cli, suanli.agent.service, suanli.agent.runner; "
    "print(json.dumps(sorted(sys.modules)))"
)
NOT_FOR_THE_AGENT = (
    "suanli.controlplane", "aiohttp", "sqlalchemy", "jwt", "asyncpg", "http.server", "pynvml", "pydantic_settings",
)

# The test server's handler, shared by the scripts below (they import http.server first).
OK_HANDLER = """
class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args): pass
"""

# In a fresh interpreter: the agent's stack, then an https POST to a local TLS server trusting `ca`.
HTTPS_POST = """
import suanli.agent.cli
import asyncio.base_events, http.client, http.server, json, socketserver, ssl, sys, threading
from suanli.agent.transport import HttpClient

cert = sys.argv[1]
""" + OK_HANDLER + """
import hashlib
lean = asyncio.base_events.ssl is None and not hasattr(http.client, "HTTPSConnection")
lean = lean and hashlib.sha256(b"abc").hexdigest().startswith("ba7816bf")
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, sys.argv[2])
server = socketserver.TCPServer(("127.0.0.1", 0), Ok)  # HTTPServer's getfqdn() would load idna
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
client = HttpClient(f"https://localhost:{server.server_address[1]}", 10, ca_bundle=cert)
response = client.post_sync("/v1/x", b"{}", {})
idna = "encodings.idna" in sys.modules
print(json.dumps({"lean": lean, "status": response.status, "text": response.text, "idna": idna}))
"""


# In a fresh interpreter: a plain-http POST to a server named "localhost".
HTTP_POST_BY_NAME = """
import suanli.agent.cli
import http.server, json, socketserver, sys, threading
from suanli.agent.transport import HttpClient
""" + OK_HANDLER + """
server = socketserver.TCPServer(("127.0.0.1", 0), Ok)  # HTTPServer's getfqdn() would load idna
threading.Thread(target=server.serve_forever, daemon=True).start()
response = HttpClient(f"http://localhost:{server.server_address[1]}", 10).post_sync("/v1/x", b"{}", {})
print(json.dumps({"status": response.status, "idna": "encodings.idna" in sys.modules, "ssl": "ssl" in sys.modules}))
"""


def _fresh_python(code: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_agent_process_loads_no_control_plane_stack_and_no_ssl() -> None:
    modules = json.loads(_fresh_python(AGENT_IMPORTS))
    assert "suanli.agent.service" in modules and "asyncio" in modules and "http.client" in modules
    loaded = [name for name in modules if name.startswith(NOT_FOR_THE_AGENT)]
    assert loaded == []
    assert [name for name in ("ssl", "_ssl", "_hashlib") if name in modules] == []


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography", reason="the controlplane extra provides cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "suanli lean-import test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cp.pem", tmp_path / "cp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def test_https_by_host_name_works_without_the_idna_codec_in_a_lean_agent_process(tmp_path: Path) -> None:
    cert_path, key_path = _self_signed(tmp_path)
    result = json.loads(_fresh_python(HTTPS_POST, str(cert_path), str(key_path)))
    assert result == {"lean": True, "status": 200, "text": "ok", "idna": False}


def test_plain_http_by_host_name_loads_neither_ssl_nor_the_idna_codec() -> None:
    result = json.loads(_fresh_python(HTTP_POST_BY_NAME))
    assert result == {"status": 200, "idna": False, "ssl": False}
