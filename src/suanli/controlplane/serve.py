"""`suanli serve`: run the app on its address until SIGTERM/SIGINT."""

from __future__ import annotations

import gc
from pathlib import Path

from aiohttp import web

from suanli.controlplane.app import create_app
from suanli.controlplane.config import load_config
from suanli.controlplane.tls import server_ssl_context

# Young objects collected every this many allocations (CPython's default is 700). A report batch
# is alive from its parse until its group commit, so with the default almost every object of the
# in-flight requests is traversed, promoted and traversed again; at this threshold most of them
# are freed by reference counting before any collection looks at them.
GC_YOUNG_THRESHOLD = 100_000

# CPython's GIL switch interval is left at its default (5 ms). 0.5 ms on SQLite (so the writer
# thread got the GIL back sooner after each sqlite3 call) gained 3–16 % while the writer's commits
# checkpointed the WAL; since a thread of its own does (db.WalCheckpointer) it gains nothing and
# costs 8–11 % more CPU a report (three side-by-side runs, bench/RESULTS.md).


async def _settle_heap(_app: web.Application) -> None:
    """After start-up: what is alive now (modules, models, statements) lives as long as the
    process, so it is moved out of the collector's reach and full collections scan only what
    requests create; collections of young objects become rare (see GC_YOUNG_THRESHOLD)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def serve(config_path: Path | None, database: str | None, listen: str | None,
          tls_cert: Path | None = None, tls_key: Path | None = None) -> int:
    config = load_config(config_path, database=database, listen=listen, tls_cert=tls_cert, tls_key=tls_key)
    ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
    app = create_app(config)
    app.on_startup.append(_settle_heap)  # after the app's own start-up (cleanup_ctx runs first)
    scheme = "https" if ssl_context else "http"
    print(f"suanli control plane on {scheme}://{config.listen_host}:{config.listen_port} "
          f"(database {config.database_url.split('://')[0]})", flush=True)
    web.run_app(app, host=config.listen_host, port=config.listen_port, print=None, access_log=None,
                ssl_context=ssl_context)
    return 0
