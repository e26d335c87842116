"""HTTP client settings shared by enrollment and delivery: TLS verification, CA bundle, timeouts."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp

from suanli import __version__

USER_AGENT = f"suanli-agent/{__version__}"


def ssl_context(tls_verify: bool = True, ca_bundle: str | Path | None = None) -> ssl.SSLContext | bool:
    """What aiohttp's `ssl=` takes: a verifying context (system CAs or `ca_bundle`), or False.

    Verification is on unless the operator turned it off explicitly in the config.
    """
    if not tls_verify:
        return False
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def client_session(
    request_timeout_s: float, tls_verify: bool = True, ca_bundle: str | Path | None = None
) -> aiohttp.ClientSession:
    """One session per agent: keeps the connection to the control plane alive between batches."""
    connector = aiohttp.TCPConnector(ssl=ssl_context(tls_verify, ca_bundle), limit=4)
    timeout = aiohttp.ClientTimeout(total=request_timeout_s)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT})


def join_url(server_url: str, path: str) -> str:
    """`https://cp.example/` + `/v1/reports` without doubled or missing slashes."""
    return server_url.rstrip("/") + "/" + path.lstrip("/")
