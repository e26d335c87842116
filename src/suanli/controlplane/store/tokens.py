"""Bootstrap tokens: created by an admin for one data center, spent by enrolling nodes."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.credentials import BOOTSTRAP_TOKEN_PREFIX, hash_secret, new_secret
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store import audit
from suanli.controlplane.store.locations import Datacenter, ensure_datacenter
from suanli.controlplane.store.tables import bootstrap_tokens, datacenters


@dataclass(frozen=True)
class CreatedToken:
    secret: str
    datacenter: str
    province: str
    expires_at: datetime
    max_uses: int


async def create_token(
    engine: AsyncEngine,
    datacenter: str,
    province: str,
    ttl: timedelta,
    max_uses: int,
    now: datetime,
    actor: str = "cli",
) -> CreatedToken:
    """A new token for `datacenter` (created with its province if new); the secret is shown once."""
    secret = new_secret(BOOTSTRAP_TOKEN_PREFIX)
    async with engine.begin() as connection:
        dc = await ensure_datacenter(connection, datacenter, province, now)
        await connection.execute(
            bootstrap_tokens.insert().values(
                token_hash=hash_secret(secret), datacenter_id=dc.id, expires_at=now + ttl,
                max_uses=max_uses, use_count=0, created_at=now,
            )
        )
        await audit.record(
            connection, now, actor, "token.create", datacenter,
            {"province": province, "ttl_s": ttl.total_seconds(), "max_uses": max_uses},
        )
    return CreatedToken(secret, datacenter, province, now + ttl, max_uses)


@functools.lru_cache(maxsize=4)
def _lock_tokens_query(dialect_name: str) -> Any:
    """Built once per dialect: enrollment's writer runs it for every group."""
    query = (
        select(bootstrap_tokens, datacenters.c.name, datacenters.c.province_code)
        .join(datacenters, datacenters.c.id == bootstrap_tokens.c.datacenter_id)
        .where(bootstrap_tokens.c.token_hash.in_(bindparam("token_hashes", expanding=True)))
        .order_by(bootstrap_tokens.c.id)
    )
    # In id order, so two processes' groups lock shared tokens in one order and never deadlock.
    # SQLite needs no row lock: its writer transaction began IMMEDIATE and holds the database's.
    return query.with_for_update(of=bootstrap_tokens) if dialect_name == "postgresql" else query


def lock_tokens(connection: Connection, token_hashes: Iterable[str]) -> dict[str, Any]:
    """The tokens with these hashes, locked until the transaction ends, by hash."""
    query = _lock_tokens_query(connection.dialect.name)
    rows = connection.execute(query, {"token_hashes": sorted(set(token_hashes))}).all()
    return {row.token_hash: row for row in rows}


def check_token(row: Any | None, now: datetime, spent_in_transaction: int) -> Datacenter:
    """The token's data center if one more use may be spent; refusals carry distinct stable codes.

    `spent_in_transaction` counts the uses this transaction already took but has not written yet."""
    if row is None:
        raise ApiError("token_unknown")
    if row.revoked_at is not None:
        raise ApiError("token_revoked")
    if row.expires_at <= now:
        raise ApiError("token_expired", detail={"expired_at": row.expires_at.isoformat()})
    if row.use_count + spent_in_transaction >= row.max_uses:
        raise ApiError("token_used_up", detail={"max_uses": row.max_uses})
    return Datacenter(row.datacenter_id, row.name, row.province_code)


def spend_tokens(connection: Connection, uses_by_token_id: dict[int, int]) -> None:
    """Add the uses counted under lock; the guard keeps the count within max_uses regardless."""
    if not uses_by_token_id:
        return
    rows = [{"token_id": token_id, "uses": uses} for token_id, uses in sorted(uses_by_token_id.items())]
    result = connection.execute(_SPEND_TOKENS, rows)
    if connection.dialect.supports_sane_multi_rowcount and result.rowcount != len(rows):
        raise RuntimeError("a locked bootstrap token changed under its lock")


_SPEND_TOKENS = (
    bootstrap_tokens.update()
    .where(bootstrap_tokens.c.id == bindparam("token_id"))
    .where(bootstrap_tokens.c.use_count + bindparam("uses") <= bootstrap_tokens.c.max_uses)
    .values(use_count=bootstrap_tokens.c.use_count + bindparam("uses"))
)
