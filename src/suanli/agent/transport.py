"""The agent's HTTP client: one kept-alive connection to the control plane, TLS verified by default.

Built on the standard library's `http.client` and run on a daemon worker thread rather than on
aiohttp: the agent sends one small request every few seconds, and not loading aiohttp keeps about
10 MB out of its resident memory (bench/RESULTS.md, agent_footprint). Daemon threads mean a request
hanging on a dead network never holds up the agent's exit after its bounded shutdown flush.
`ssl` is imported only for an https URL: `suanli-agent` loads http.client without it
(suanli.agent.lean), so TLS connections are made by `TlsConnection` here, not `HTTPSConnection`.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from suanli import __version__
from suanli.agent.workers import WorkerPool

if TYPE_CHECKING:
    import ssl

USER_AGENT = f"suanli-agent/{__version__}"
# What a failed exchange raises: refused/reset/timed-out sockets and TLS errors are OSError,
# a garbled or cut-off answer is an HTTPException.
TransportError = (OSError, http.client.HTTPException)
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
# How OpenSSL names a CA certificate in a hashed directory: its subject-name hash and a counter.
_HASHED_CA_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    text: str
    retry_after: str | None


def ssl_context(tls_verify: bool = True, ca_bundle: str | Path | None = None) -> ssl.SSLContext:
    """A verifying context (system CAs, or `ca_bundle` for a private CA); unverified only when asked."""
    import ssl  # here, not at the top: plain-http agents never load TLS (suanli.agent.lean)

    if not tls_verify:  # the operator turned verification off explicitly in the config: no CAs to load
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_bundle:
        context = ssl.create_default_context(cafile=str(ca_bundle))
    else:
        context = ssl.create_default_context(capath=hashed_system_ca_dir())
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def hashed_system_ca_dir() -> str | None:
    """The system's hashed CA directory when the system trust store can be read from it alone, else None.

    The system bundle (`load_default_certs`, what `capath=None` means) is parsed whole into memory:
    ~140 X509 objects, ~1.2 MB resident for a client that needs one issuer (bench/RESULTS.md,
    agent_footprint). From a directory of `<subject hash>.<n>` files, as update-ca-certificates and
    c_rehash maintain it (Debian, Ubuntu, Alpine, SUSE), OpenSSL reads only the issuer it looks up.
    None, so the bundle is loaded as before, where the directory holds no hashed names (Red Hat's
    /etc/pki/tls/certs) or the operator pointed OpenSSL at a bundle with SSL_CERT_FILE.
    """
    import ssl

    paths = ssl.get_default_verify_paths()
    if paths.capath is None or os.environ.get(paths.openssl_cafile_env):
        return None
    try:
        with os.scandir(paths.capath) as entries:
            hashed = any(_HASHED_CA_NAME.fullmatch(entry.name) for entry in entries)
    except OSError:
        return None
    return paths.capath if hashed else None


def _create_connection(
    address: tuple[str, int], timeout: float | None, source_address: tuple[str, int] | None = None
) -> socket.socket:
    """`socket.create_connection` with an ASCII host name passed as bytes.

    getaddrinfo encodes a str name with the idna codec, whose first use imports encodings.idna,
    stringprep and unicodedata (~0.4 MB resident) for names that are plain ASCII anyway.
    """
    host, port = address
    return socket.create_connection((host.encode("ascii") if host.isascii() else host, port), timeout, source_address)


class PlainConnection(http.client.HTTPConnection):
    """http.client's connection, resolving ASCII host names without the idna codec."""

    def __init__(self, host: str, port: int | None, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._create_connection = _create_connection


class TlsConnection(PlainConnection):
    """HTTP over TLS with the given context; the server's name is checked as the context says.

    What `http.client.HTTPSConnection` does, written here because that class does not exist when
    http.client was imported without `ssl` (suanli.agent.lean).
    """

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int | None, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout)
        self._context = context

    def connect(self) -> None:
        super().connect()
        # An ASCII name as bytes: ssl encodes a str with the idna codec, whose first use imports
        # encodings.idna, stringprep and unicodedata (~0.4 MB resident), as getaddrinfo would.
        server_hostname = self.host.encode("ascii") if self.host.isascii() else self.host
        self.sock = self._context.wrap_socket(self.sock, server_hostname=server_hostname)


class HttpClient:
    """POSTs JSON to one control plane over a reused connection (one request at a time)."""

    def __init__(
        self, server_url: str, request_timeout_s: float, tls_verify: bool = True, ca_bundle: str | Path | None = None
    ) -> None:
        parts = urlsplit(server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {server_url!r}")
        self.server_url = server_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._base_path = parts.path.rstrip("/")
        self._timeout_s = request_timeout_s
        self._context = ssl_context(tls_verify, ca_bundle) if self._https else None
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()  # a cancelled request may still run while the next one starts
        self._pool = WorkerPool("suanli-http")

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return TlsConnection(self._host, self._port, self._timeout_s, self._context)
        return PlainConnection(self._host, self._port, self._timeout_s)

    def post_sync(self, path: str, body: bytes, headers: dict[str, str], retry_stale: bool = True) -> HttpResponse:
        """One POST; a kept-alive connection the server closed meanwhile is reopened once."""
        all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        with self._lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                if self._connection is None:
                    self._connection = self._connect()
                try:
                    self._connection.request("POST", self._base_path + path, body=body, headers=all_headers)
                    response = self._connection.getresponse()
                    text = response.read().decode("utf-8", errors="replace")
                except BaseException as exc:
                    self._close_connection()
                    if attempt == 1 and reused and retry_stale and isinstance(exc, _STALE):
                        continue
                    raise
                if response.will_close:
                    self._close_connection()
                return HttpResponse(response.status, text, response.getheader("Retry-After"))
        raise AssertionError("unreachable")

    async def post(self, path: str, body: bytes, headers: dict[str, str], retry_stale: bool = True) -> HttpResponse:
        """`post_sync` on a worker thread, so the event loop keeps scheduling while it waits."""
        future = self._pool.submit(self.post_sync, path, body, headers, retry_stale)
        return await asyncio.wrap_future(future)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        """Drop the connection and let the idle worker thread go."""
        if self._lock.acquire(timeout=0.5):
            try:
                self._close_connection()
            finally:
                self._lock.release()
        self._pool.close()
