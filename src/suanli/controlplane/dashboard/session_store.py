"""API keys as sessions see them: a key's row id and role, looked up by secret or by id."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.credentials import hash_secret
from suanli.controlplane.store.tables import api_keys


@dataclass(frozen=True)
class KeyRole:
    key_id: int
    role: str


async def key_for_secret(engine: AsyncEngine, secret: str) -> KeyRole | None:
    """The unrevoked key with this secret, or None (the secret itself is never stored)."""
    query = select(api_keys.c.id, api_keys.c.role).where(
        api_keys.c.key_hash == hash_secret(secret), api_keys.c.revoked_at.is_(None)
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).one_or_none()
    return None if row is None else KeyRole(row.id, row.role)


async def role_of_key_id(engine: AsyncEngine, key_id: int) -> str | None:
    """The role of an unrevoked key, so revoking a key also ends the sessions opened with it."""
    query = select(api_keys.c.role).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    async with engine.connect() as connection:
        return (await connection.execute(query)).scalar_one_or_none()
