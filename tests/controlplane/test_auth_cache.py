"""The credential cache: concurrent look-ups of one secret share a single database read."""

from __future__ import annotations

import asyncio

from suanli.controlplane.auth import TtlCache


async def test_concurrent_misses_load_once() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=60)
    calls = 0

    async def load() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return "node-1"

    results = await asyncio.gather(*(cache.get_or_load("secret", load) for _ in range(20)))
    assert results == ["node-1"] * 20 and calls == 1
    assert await cache.get_or_load("secret", load) == "node-1" and calls == 1


async def test_unknown_secrets_are_not_cached_and_errors_reach_every_waiter() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=60)
    calls = 0

    async def nothing() -> None:
        nonlocal calls
        calls += 1

    assert await cache.get_or_load("bad", nothing) is None
    assert await cache.get_or_load("bad", nothing) is None and calls == 2

    async def broken() -> str:
        await asyncio.sleep(0.01)
        raise ConnectionError("database down")

    results = await asyncio.gather(*(cache.get_or_load("k", broken) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_zero_ttl_caches_nothing() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=0)
    cache.put("k", "v")
    assert cache.get("k") is None


def test_a_full_cache_drops_its_oldest_entries_not_everything() -> None:
    cache: TtlCache[str] = TtlCache(ttl_s=60, max_entries=16)
    for n in range(16):
        cache.put(f"k{n}", f"v{n}")
    cache.put("k0", "v0")  # refreshed: now the youngest
    cache.put("k16", "v16")  # full: the oldest eighth (k1, k2) goes
    assert len(cache) == 15
    assert cache.get("k1") is None and cache.get("k2") is None
    assert cache.get("k0") == "v0" and cache.get("k3") == "v3" and cache.get("k16") == "v16"
