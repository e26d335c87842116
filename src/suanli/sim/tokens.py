"""Bootstrap tokens for the simulated data centers: given on the command line, read from a file, or minted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path


class TokenError(ValueError):
    """The tokens given do not cover the simulated data centers, or could not be created."""


def from_arguments(tokens: Sequence[str], datacenters: Sequence[str]) -> dict[str, str]:
    """`--token DC=TOKEN` names its data center; a bare `--token TOKEN` goes to the next one in order."""
    result: dict[str, str] = {}
    bare = [t for t in tokens if "=" not in t]
    for item in tokens:
        if "=" in item:
            name, token = item.split("=", 1)
            result[name] = token
    unnamed = [name for name in datacenters if name not in result]
    if len(bare) > len(unnamed):
        raise TokenError(f"{len(bare)} unnamed tokens for {len(unnamed)} data centers without one")
    result.update(zip(unnamed, bare))
    return result


def read_tokens_file(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A JSON object `{datacenter: token}` or `{datacenter: {"token": ..., "province": ...}}`.

    Returns the tokens and the provinces the file names (data centers without one get theirs later)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TokenError(f"cannot read tokens file {path}: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise TokenError(f"{path}: expected a non-empty JSON object of data center -> token")
    tokens, provinces = {}, {}
    for name, value in data.items():
        if isinstance(value, str):
            tokens[name] = value
        elif isinstance(value, dict) and isinstance(value.get("token"), str):
            tokens[name] = value["token"]
            if value.get("province"):
                provinces[name] = str(value["province"])
        else:
            raise TokenError(f"{path}: entry {name!r} is neither a token nor {{token, province}}")
    return tokens, provinces


async def create_tokens_async(database_url: str, datacenters: Sequence[tuple[str, str]], uses: dict[str, int],
                              ttl: timedelta = timedelta(hours=24)) -> dict[str, str]:
    """Mint one token per data center through the control plane's store, as `suanli token create` does
    (migrating the database first), but in one process: a hundred data centers take a second, not minutes."""
    try:
        from suanli.controlplane import migrate
        from suanli.controlplane.db import create_engine
        from suanli.controlplane.store.tokens import create_token
        from suanli.schema import utc_now
    except ImportError as exc:  # the agent-only install lacks the control plane's extra
        raise TokenError(f"--database needs the control plane installed (suanli[controlplane]): {exc}") from exc
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        return {name: (await create_token(engine, name, province, ttl, max(uses.get(name, 1), 1), utc_now(),
                                          actor="suanli sim")).secret
                for name, province in datacenters}
    finally:
        await engine.dispose()


def create_tokens(database_url: str, datacenters: Sequence[tuple[str, str]], uses: dict[str, int]) -> dict[str, str]:
    return asyncio.run(create_tokens_async(database_url, datacenters, uses))
