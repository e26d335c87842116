"""Prometheus metrics of one control-plane app: requests, ingest, database, group commit, and capacity at scrape time.

Each app has its own `CollectorRegistry` (tests build many apps in one process). `GET /metrics`
needs an operator or admin key, like the rest of the operator API: Prometheus sends it as a
bearer token (see controlplane/prometheus.yml).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import ValidationError
from sqlalchemy import event

from suanli.controlplane.api.access import OPERATOR_ROLES, require_role
from suanli.controlplane.appkeys import ENGINE
from suanli.controlplane.errors import ApiError
from suanli.controlplane.metrics_capacity import CapacityCollector, read_snapshot
from suanli.schema import BatchAck

REPORTS_ROUTE = "/v1/reports"
_HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
_SQL_OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK")
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
_FAST_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The instruments of one app, all on its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("suanli_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=r)
        self.request_seconds = Histogram("suanli_http_request_duration_seconds", "HTTP request latency by route",
                                         ["route", "method"], buckets=_FAST_BUCKETS_S, registry=r)
        self.errors = Counter("suanli_http_errors", "refused or failed requests by route and error code",
                              ["route", "code"], registry=r)
        self.reports_accepted = Counter("suanli_ingest_reports_accepted", "reports stored (new seqs)", registry=r)
        self.reports_duplicate = Counter("suanli_ingest_reports_duplicate",
                                         "reports already stored (redelivered seqs, not counted again)", registry=r)
        self.batches_rejected = Counter("suanli_ingest_batches_rejected", "report batches refused, by error code",
                                        ["code"], registry=r)
        self.group_commit_requests = Histogram("suanli_group_commit_batch_requests",
                                               "requests' batches written in one transaction", buckets=_BATCH_BUCKETS,
                                               registry=r)
        self.group_commit_seconds = Histogram("suanli_group_commit_transaction_duration_seconds",
                                              "time to write one group of batches", buckets=_FAST_BUCKETS_S, registry=r)
        # The ingest writer's bulk statements go to sqlite3 / asyncpg directly and are not among them:
        # suanli_group_commit_transaction_duration_seconds times those transactions whole.
        self.db_seconds = Histogram("suanli_db_statement_duration_seconds",
                                    "database statement time by operation (statements sent through SQLAlchemy)",
                                    ["operation"], buckets=_FAST_BUCKETS_S, registry=r)
        self.capacity = CapacityCollector()
        r.register(self.capacity)
        self.scrape_lock = asyncio.Lock()

    def observe_ack(self, ack: BatchAck) -> None:
        self.reports_accepted.inc(len(ack.accepted))
        self.reports_duplicate.inc(len(ack.duplicates))

    @contextmanager
    def group_commit(self, requests: int) -> Iterator[None]:
        """Time one group-commit write of `requests` batches."""
        self.group_commit_requests.observe(requests)
        with self.group_commit_seconds.time():
            yield


METRICS = web.AppKey("metrics", Metrics)


def _route(request: web.Request) -> str:
    """The route template (`/v1/nodes/{node_id}`), never the raw path, so labels stay few."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _failure(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    if isinstance(exc, ValidationError):
        return 422, "validation_failed"
    if isinstance(exc, web.HTTPException):
        return exc.status, _HTTP_ERROR_CODES.get(exc.status, f"http_{exc.status}")
    return 500, "internal_error"


def _count(metrics: Metrics, request: web.Request, route: str, status: int, started_s: float) -> None:
    metrics.requests.labels(route, request.method, str(status)).inc()
    metrics.request_seconds.labels(route, request.method).observe(time.perf_counter() - started_s)


@web.middleware
async def metrics_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count and time every request; inside error_middleware, so it sees the domain error's code."""
    metrics = request.app[METRICS]
    route = _route(request)
    started_s = time.perf_counter()
    try:
        response = await handler(request)
    except Exception as exc:
        status, code = _failure(exc)
        _count(metrics, request, route, status, started_s)
        if status >= 400:
            metrics.errors.labels(route, code).inc()
            if route == REPORTS_ROUTE:
                metrics.batches_rejected.labels(code).inc()
        raise
    _count(metrics, request, route, response.status, started_s)
    return response


def _operation(statement: str) -> str:
    word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return word if word in _SQL_OPERATIONS else "OTHER"


def _timing_listeners(metrics: Metrics) -> dict[str, Callable[..., None]]:
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info.setdefault("suanli_started_s", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        started = conn.info.get("suanli_started_s")
        if started:
            metrics.db_seconds.labels(_operation(statement)).observe(time.perf_counter() - started.pop())

    def failed(context: Any) -> None:
        started = context.connection.info.get("suanli_started_s") if context.connection is not None else None
        if started:
            started.pop()

    return {"before_cursor_execute": before, "after_cursor_execute": after, "handle_error": failed}


async def metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: time every statement on the app's engine (after `_database` opened it)."""
    engine = app[ENGINE].sync_engine
    listeners = _timing_listeners(app[METRICS])
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    yield
    for name, listener in listeners.items():
        event.remove(engine, name, listener)


async def get_metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: the Prometheus text exposition, with capacity read from the store now."""
    await require_role(request, OPERATOR_ROLES)
    metrics = request.app[METRICS]
    async with metrics.scrape_lock:  # one snapshot per exposition, even when scrapes overlap
        metrics.capacity.snapshot = await read_snapshot(request.app[ENGINE])
        body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
