"""Who is calling: `Authorization: Bearer <secret>` → a node (credential) or a role (API key)."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

from aiohttp import web

from suanli.controlplane.credentials import API_KEY_PREFIX
from suanli.controlplane.errors import ApiError

Value = TypeVar("Value")
_MAX_CACHE_ENTRIES = 100_000


class TtlCache(Generic[Value]):
    """Short-lived memory of credential look-ups: spares the database a read on every report.

    A revocation therefore takes effect within `ttl_s` on every process.
    """

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Value]] = {}

    def get(self, key: str) -> Value | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: Value) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= _MAX_CACHE_ENTRIES:
            self._entries.clear()  # crude but bounded; a refill costs one read per caller
        self._entries[key] = (time.monotonic() + self.ttl_s, value)

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
