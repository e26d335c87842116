"""The application factory: `create_app(config)` builds the same app for `suanli serve` and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from suanli.controlplane import appkeys, migrate
from suanli.controlplane.auth import TtlCache
from suanli.controlplane.certification.service import certification_ctx
from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.contribution import DefaultCatalog, FlopsCatalog
from suanli.controlplane.dashboard.context import dashboard_ctx
from suanli.controlplane.db import create_engine
from suanli.controlplane.errors import error_middleware
from suanli.controlplane.metrics import METRICS, Metrics, metrics_ctx, metrics_middleware
from suanli.controlplane.routes import ROUTES
from suanli.controlplane.store.reports import IngestPolicy, ingest
from suanli.controlplane.writer import GroupCommitter
from suanli.schema import utc_now


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Open the engine, migrate to the newest schema, and dispose of the pool at shutdown."""
    config = app[appkeys.CONFIG]
    engine = create_engine(config.database_url, pool_size=config.database_pool_size)
    await migrate.upgrade(engine)
    app[appkeys.ENGINE] = engine
    yield
    await engine.dispose()


async def _report_writer(app: web.Application) -> AsyncIterator[None]:
    """The group-commit writer of report batches; drains its queue before the engine closes."""
    config = app[appkeys.CONFIG]
    policy = IngestPolicy(config.in_use_threshold_percent, app[appkeys.CATALOG])

    async def write(connection, items):  # noqa: ANN001, ANN202 - the writer's callback
        return await ingest(connection, items, utc_now(), policy)

    writer = GroupCommitter(app[appkeys.ENGINE], write, config.group_commit_max_requests)
    writer.start()
    app[appkeys.REPORT_WRITER] = writer
    yield
    await writer.stop()


def create_app(config: ControlPlaneConfig, catalog: FlopsCatalog | None = None) -> web.Application:
    """The control-plane app; resources open on startup and close on cleanup, in order."""
    app = web.Application(middlewares=[error_middleware, metrics_middleware], client_max_size=config.max_body_bytes)
    app[appkeys.CONFIG] = config
    app[appkeys.CATALOG] = catalog or DefaultCatalog()
    app[METRICS] = Metrics()
    app[appkeys.NODE_AUTH_CACHE] = TtlCache(config.auth_cache_ttl_s)
    app[appkeys.KEY_AUTH_CACHE] = TtlCache(config.auth_cache_ttl_s)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_report_writer)
    app.cleanup_ctx.append(certification_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.cleanup_ctx.append(dashboard_ctx)
    app.add_routes(ROUTES)
    return app


__all__ = ["create_app"]
