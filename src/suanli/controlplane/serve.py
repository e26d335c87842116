"""`suanli serve`: run the app on its address until SIGTERM/SIGINT."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

from aiohttp import web

from suanli.controlplane.app import create_app
from suanli.controlplane.config import load_config
from suanli.controlplane.db import is_sqlite
from suanli.controlplane.tls import server_ssl_context

# Young objects collected every this many allocations (CPython's default is 700). A report batch
# is alive from its parse until its group commit, so with the default almost every object of the
# in-flight requests is traversed, promoted and traversed again; at this threshold most of them
# are freed by reference counting before any collection looks at them.
GC_YOUNG_THRESHOLD = 100_000

# How long a thread waiting for the GIL lets the holder run on before asking for it (CPython's
# default: 5 ms). On SQLite the report writer's thread bounds the ingest rate, and it gives the GIL
# up in every sqlite3 call; while the event loop was parsing, getting it back took up to the whole
# interval each time. Side by side, three runs (bench/RESULTS.md): 0.5 ms gave +16 %, +3 % and +10 %
# reports/s, for 0 to 13 % more CPU a report (more switches); 0.1 ms cost more CPU, 1 ms gained less.
SQLITE_GIL_SWITCH_INTERVAL_S = 0.0005


async def _settle_heap(_app: web.Application) -> None:
    """After start-up: what is alive now (modules, models, statements) lives as long as the
    process, so it is moved out of the collector's reach and full collections scan only what
    requests create; collections of young objects become rare (see GC_YOUNG_THRESHOLD)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


async def _hand_the_gil_back_sooner(_app: web.Application) -> None:
    """On SQLite: the writer thread waits less for the GIL after each sqlite3 call."""
    sys.setswitchinterval(SQLITE_GIL_SWITCH_INTERVAL_S)


def serve(config_path: Path | None, database: str | None, listen: str | None,
          tls_cert: Path | None = None, tls_key: Path | None = None) -> int:
    config = load_config(config_path, database=database, listen=listen, tls_cert=tls_cert, tls_key=tls_key)
    ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
    app = create_app(config)
    app.on_startup.append(_settle_heap)  # after the app's own start-up (cleanup_ctx runs first)
    if is_sqlite(config.database_url):
        app.on_startup.append(_hand_the_gil_back_sooner)
    scheme = "https" if ssl_context else "http"
    print(f"suanli control plane on {scheme}://{config.listen_host}:{config.listen_port} "
          f"(database {config.database_url.split('://')[0]})", flush=True)
    web.run_app(app, host=config.listen_host, port=config.listen_port, print=None, access_log=None,
                ssl_context=ssl_context)
    return 0
