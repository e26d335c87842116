"""Bootstrap tokens: created by an admin for one data center, spent by enrolling nodes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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


async def spend_token(connection: AsyncConnection, secret: str, now: datetime) -> Datacenter:
    """Use the token once and return its data center; refusals carry distinct stable codes."""
    query = (
        select(bootstrap_tokens, datacenters.c.name, datacenters.c.province_code)
        .join(datacenters, datacenters.c.id == bootstrap_tokens.c.datacenter_id)
        .where(bootstrap_tokens.c.token_hash == hash_secret(secret))
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(of=bootstrap_tokens)
    row = (await connection.execute(query)).one_or_none()
    if row is None:
        raise ApiError("token_unknown")
    if row.revoked_at is not None:
        raise ApiError("token_revoked")
    if row.expires_at <= now:
        raise ApiError("token_expired", detail={"expired_at": row.expires_at.isoformat()})
    # The guarded UPDATE keeps the count exact even when enrollments race on one token.
    spent = await connection.execute(
        bootstrap_tokens.update()
        .where(bootstrap_tokens.c.id == row.id, bootstrap_tokens.c.use_count < bootstrap_tokens.c.max_uses)
        .values(use_count=bootstrap_tokens.c.use_count + 1)
    )
    if spent.rowcount != 1:
        raise ApiError("token_used_up", detail={"max_uses": row.max_uses})
    return Datacenter(row.datacenter_id, row.name, row.province_code)
