"""Load the agent's stack without OpenSSL (`ssl`, `_hashlib`), which only an https server URL needs.

`asyncio` and `http.client` import `ssl`, and `hashlib`/`hmac` (pydantic imports them) import
`_hashlib`, when they are imported; either loads libcrypto, whose pages with ssl's module objects
come to about 4.5 MB of resident memory (bench/RESULTS.md, agent_footprint). The agent never uses
asyncio's TLS, its one hash (the inventory fingerprint) is as well served by CPython's built-in
SHA-256, and plain-http deployments never use TLS at all. So `suanli-agent` imports these modules
here first with OpenSSL's modules hidden; the transport imports `ssl` itself when, and only when, a
server URL is https. Only a fresh agent process is affected: where any of them is already loaded
(tests, the control plane) nothing changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

OPENSSL_MODULES = ("ssl", "_ssl", "_hashlib")
# Loaded while OpenSSL's modules are hidden, so each takes its fallback: no TLS, built-in hashes.
STACK_MODULES = ("hashlib", "hmac", "asyncio", "http.client")


def _builtin_sha256_present() -> bool:
    """hashlib without _hashlib needs CPython's own SHA-256 (`_sha256`, `_sha2` from 3.12)."""
    return any(importlib.util.find_spec(name) is not None for name in ("_sha256", "_sha2"))


def load_network_stack_without_ssl() -> bool:
    """Import hashlib, hmac, asyncio and http.client with OpenSSL hidden; False (a no-op) when
    any of them is loaded already or this Python has no built-in SHA-256 to fall back on."""
    if any(name in sys.modules for name in (*OPENSSL_MODULES, *STACK_MODULES)) or not _builtin_sha256_present():
        return False
    for name in OPENSSL_MODULES:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError meanwhile
    try:
        for name in STACK_MODULES:
            importlib.import_module(name)
    finally:
        for name in OPENSSL_MODULES:
            del sys.modules[name]  # a later `import ssl` (an https URL) loads the real modules
    return True
