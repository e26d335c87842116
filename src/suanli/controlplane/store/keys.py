"""API keys of operators, admins and the national platform (agents use node credentials instead)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.credentials import API_KEY_PREFIX, hash_secret, new_secret
from suanli.controlplane.store import audit
from suanli.controlplane.store.tables import API_KEY_ROLES, api_keys


async def create_api_key(
    engine: AsyncEngine, role: str, now: datetime, name: str = "", actor: str = "cli"
) -> str:
    """A new key with `role`; only its hash is stored, the secret is returned once."""
    if role not in API_KEY_ROLES:
        raise ValueError(f"role must be one of {', '.join(API_KEY_ROLES)}")
    secret = new_secret(API_KEY_PREFIX)
    async with engine.begin() as connection:
        await connection.execute(
            api_keys.insert().values(key_hash=hash_secret(secret), role=role, name=name, created_at=now)
        )
        await audit.record(connection, now, actor, "key.create", name, {"role": role})
    return secret


async def role_of_key(engine: AsyncEngine, secret: str) -> str | None:
    """The role of a valid, unrevoked key, or None."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(api_keys.c.role, api_keys.c.revoked_at).where(api_keys.c.key_hash == hash_secret(secret))
            )
        ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row.role
