"""`suanli serve`: run the app on its address until SIGTERM/SIGINT."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from suanli.controlplane.app import create_app
from suanli.controlplane.config import load_config
from suanli.controlplane.tls import server_ssl_context


def serve(config_path: Path | None, database: str | None, listen: str | None,
          tls_cert: Path | None = None, tls_key: Path | None = None) -> int:
    config = load_config(config_path, database=database, listen=listen, tls_cert=tls_cert, tls_key=tls_key)
    ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
    app = create_app(config)
    scheme = "https" if ssl_context else "http"
    print(f"suanli control plane on {scheme}://{config.listen_host}:{config.listen_port} "
          f"(database {config.database_url.split('://')[0]})", flush=True)
    web.run_app(app, host=config.listen_host, port=config.listen_port, print=None, access_log=None,
                ssl_context=ssl_context)
    return 0
