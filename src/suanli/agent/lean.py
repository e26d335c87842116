"""Load the agent's network stack without the `ssl` module, which only an https server URL needs.

`asyncio` and `http.client` import `ssl` when they are imported (libssl, libcrypto and ssl's enums:
about 4.5 MB of resident memory), though the agent never uses asyncio's TLS and plain-http
deployments never use TLS at all. `suanli-agent` imports both here first with `ssl` hidden; the
transport then imports `ssl` itself when, and only when, a server URL is https
(bench/RESULTS.md, agent_footprint). Only the agent's own process does this: where asyncio or
http.client is already loaded (tests, the control plane) nothing changes.
"""

from __future__ import annotations

import importlib
import sys

NETWORK_MODULES = ("asyncio", "http.client")


def load_network_stack_without_ssl() -> bool:
    """Import asyncio and http.client with `ssl` hidden; False (a no-op) if any of them is loaded."""
    if any(name in sys.modules for name in ("ssl", *NETWORK_MODULES)):
        return False
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError meanwhile
    try:
        for name in NETWORK_MODULES:
            importlib.import_module(name)
    finally:
        del sys.modules["ssl"]  # a later `import ssl` (an https URL) loads the real module
    return True
