"""Rate limits per node credential, per API key and per address failing authentication: 429 + Retry-After.

Buckets live in the memory of one process. Behind a load balancer with N processes a caller may
therefore get up to N times the configured rate; the limit protects each process (and the
database behind it) from one flooding caller, it is not a global quota.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from suanli.controlplane.config import ControlPlaneConfig
from suanli.controlplane.credentials import API_KEY_PREFIX
from suanli.controlplane.errors import error_response

# Liveness probes must answer even for a flooded process; the load balancer depends on them.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
MAX_BUCKETS = 200_000  # bounded memory: a flood of distinct secrets cannot grow the table forever


@dataclass(frozen=True)
class Rate:
    """`per_s` tokens refill each second up to `burst`; `per_s <= 0` switches the limit off."""

    per_s: float
    burst: float

    @property
    def enabled(self) -> bool:
        return self.per_s > 0 and self.burst >= 1


@dataclass(frozen=True)
class RateLimits:
    node: Rate
    key: Rate
    auth_failure: Rate


class TokenBuckets:
    """Token buckets by name; `take` answers 0 when a request may pass, else the seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # name → (tokens, at)

    def _level(self, name: str, rate: Rate) -> tuple[float, float]:
        now = self._clock()
        tokens, at = self._buckets.get(name, (rate.burst, now))
        return min(rate.burst, tokens + (now - at) * rate.per_s), now

    def take(self, name: str, rate: Rate, cost: float = 1.0) -> float:
        """Spend `cost` tokens if there are enough; otherwise spend nothing and say how long to wait."""
        if not rate.enabled:
            return 0.0
        tokens, now = self._level(name, rate)
        if tokens >= cost:
            self._store(name, tokens - cost, now)
            return 0.0
        self._store(name, tokens, now)
        return (cost - tokens) / rate.per_s

    def wait_s(self, name: str, rate: Rate) -> float:
        """How long until one token is there, without spending it."""
        if not rate.enabled or name not in self._buckets:
            return 0.0
        tokens, _ = self._level(name, rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / rate.per_s

    def _store(self, name: str, tokens: float, now: float) -> None:
        if name not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()  # crude but bounded; honest callers lose at most one burst
        self._buckets[name] = (tokens, now)


def caller_bucket(request: web.Request, limits: RateLimits) -> tuple[str, Rate] | None:
    """The bucket of the presented credential: a node's, or an API key's (by a hash, never the secret)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        return None
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if secret.startswith(API_KEY_PREFIX):
        return "key:" + digest, limits.key
    return "node:" + digest, limits.node


def too_many(wait_s: float, scope: str) -> web.Response:
    """429 `rate_limited` with Retry-After in whole seconds (at least 1, so clients never spin)."""
    retry_after_s = max(1, math.ceil(wait_s))
    response = error_response("rate_limited", detail={"scope": scope, "retry_after_s": retry_after_s})
    response.headers["Retry-After"] = str(retry_after_s)
    return response


def rate_limit_middleware(limits: RateLimits, buckets: TokenBuckets | None = None) -> Callable:
    """The middleware: refuse a flooding caller before its body is read or the database is touched."""
    buckets = buckets or TokenBuckets()

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in EXEMPT_PATHS:
            return await handler(request)
        address = "addr:" + (request.remote or "unknown")
        # An address that keeps presenting bad secrets is slowed whatever secret it tries next.
        wait_s = buckets.wait_s(address, limits.auth_failure)
        if wait_s > 0:
            return too_many(wait_s, "authentication_failures")
        bucket = caller_bucket(request, limits)
        if bucket is not None:
            wait_s = buckets.take(*bucket)
            if wait_s > 0:
                return too_many(wait_s, bucket[0].split(":", 1)[0])
        response = await handler(request)
        if response.status == 401:
            buckets.take(address, limits.auth_failure)
        return response

    return middleware


def limits_from_config(config: ControlPlaneConfig) -> RateLimits:
    """The three rates from the `rate_limit_*` settings."""
    return RateLimits(
        node=Rate(config.rate_limit_node_per_s, config.rate_limit_node_burst),
        key=Rate(config.rate_limit_key_per_s, config.rate_limit_key_burst),
        auth_failure=Rate(config.rate_limit_auth_failures_per_s, config.rate_limit_auth_failures_burst),
    )
