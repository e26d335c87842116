"""Who is calling: `Authorization: Bearer <secret>` → a node (credential) or a role (API key)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aiohttp import web

from suanli.controlplane.credentials import API_KEY_PREFIX
from suanli.controlplane.errors import ApiError

Value = TypeVar("Value")


class TtlCache(Generic[Value]):
    """Short-lived memory of credential look-ups: spares the database a read on every report.

    A revocation therefore takes effect within `ttl_s` on every process. Bounded by
    `max_entries`: when full, the oldest eighth is dropped (insertion order), never the whole cache —
    a fleet larger than the bound would otherwise miss on nearly every request.
    """

    def __init__(self, ttl_s: float, max_entries: int = 200_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Value]] = {}
        self._loading: dict[str, asyncio.Future[Value | None]] = {}

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[Value | None]]) -> Value | None:
        """The cached value, else one load shared by every concurrent caller with the same key.

        When many requests of one node arrive as its entry expires, one database read serves them.
        """
        value = self.get(key)
        if value is not None:
            return value
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Value | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a waiter-less failure must not log "never retrieved"
            raise
        finally:
            self._loading.pop(key, None)
        if value is not None:
            self.put(key, value)
        future.set_result(value)
        return value

    def get(self, key: str) -> Value | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: Value) -> None:
        if self.ttl_s <= 0:
            return
        self._entries.pop(key, None)  # re-inserted at the end: insertion order is age order
        if len(self._entries) >= self.max_entries:
            for oldest in list(itertools.islice(self._entries, max(1, self.max_entries // 8))):
                del self._entries[oldest]
        self._entries[key] = (time.monotonic() + self.ttl_s, value)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


def bearer_secret(request: web.Request) -> str:
    """The secret of the Authorization header, or 401 `unauthenticated`."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError("unauthenticated")
    return secret.strip()


def looks_like_api_key(secret: str) -> bool:
    return secret.startswith(API_KEY_PREFIX)
