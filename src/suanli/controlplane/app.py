"""The application factory: `create_app(config)` builds the same app for `suanli serve` and tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import Connection

from suanli.controlplane import appkeys, migrate
from suanli.controlplane.api.enroll import enroll_writer_ctx
from suanli.controlplane.auth import TtlCache
from suanli.controlplane.certification.service import certification_ctx
from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.contribution import DefaultCatalog, FlopsCatalog
from suanli.controlplane.dashboard.context import dashboard_ctx
from suanli.controlplane.db import SyncTransactions, create_engine
from suanli.controlplane.errors import ApiError, error_middleware
from suanli.controlplane.maintenance import maintenance_ctx
from suanli.controlplane.metrics import METRICS, Metrics, metrics_ctx, metrics_middleware
from suanli.controlplane.ratelimit import limits_from_config, rate_limit_middleware
from suanli.controlplane.routes import ROUTES
from suanli.controlplane.store.reports import IngestItem, IngestPolicy, ingest
from suanli.schema import BatchAck, utc_now


async def _database(app: web.Application) -> AsyncIterator[None]:
    """Open the engine, migrate to the newest schema, and dispose of the pool at shutdown."""
    config = app[appkeys.CONFIG]
    engine = create_engine(config.database_url, pool_size=config.database_pool_size)
    await migrate.upgrade(engine)
    app[appkeys.ENGINE] = engine
    app[appkeys.SYNC_DB] = SyncTransactions(config.database_url, engine)
    yield
    await app[appkeys.SYNC_DB].close()
    await engine.dispose()


async def _report_writer(app: web.Application) -> AsyncIterator[None]:
    """The group-commit writer of report batches; drains its queue before the engine closes."""
    config = app[appkeys.CONFIG]
    policy = IngestPolicy(config.in_use_threshold_percent, app[appkeys.CATALOG])

    def write_group(connection: Connection, items: list[IngestItem]) -> list[BatchAck | ApiError]:
        return ingest(connection, items, utc_now(), policy)

    writer = app[appkeys.SYNC_DB].group_writer(
        write_group, config.group_commit_max_requests, config.group_commit_in_flight, app[METRICS].group_commit,
        name="suanli-report-writer",
    )
    writer.start()
    app[appkeys.REPORT_WRITER] = writer
    yield
    await writer.stop()


def create_app(config: ControlPlaneConfig, catalog: FlopsCatalog | None = None) -> web.Application:
    """The control-plane app; resources open on startup and close on cleanup, in order."""
    # The rate limit is outermost: it sees the status error_middleware rendered (401s count per address).
    middlewares = [rate_limit_middleware(limits_from_config(config)), error_middleware, metrics_middleware]
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body_bytes)
    app[appkeys.CONFIG] = config
    app[appkeys.CATALOG] = catalog or DefaultCatalog()
    app[METRICS] = Metrics()
    app[appkeys.NODE_AUTH_CACHE] = TtlCache(config.node_auth_cache_ttl_s, config.auth_cache_max_entries)
    app[appkeys.KEY_AUTH_CACHE] = TtlCache(config.auth_cache_ttl_s, config.auth_cache_max_entries)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_report_writer)
    app.cleanup_ctx.append(enroll_writer_ctx)
    app.cleanup_ctx.append(maintenance_ctx)
    app.cleanup_ctx.append(certification_ctx)
    app.cleanup_ctx.append(metrics_ctx)
    app.cleanup_ctx.append(dashboard_ctx)
    app.add_routes(ROUTES)
    return app


__all__ = ["create_app"]
