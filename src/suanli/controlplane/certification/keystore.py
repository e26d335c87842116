"""Signing keys in the database: the first key made on demand, rotation, the published JWKS."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from suanli.controlplane import signing
from suanli.controlplane.certification.tables import signing_keys


def _row_to_key(row, passphrase: bytes | None) -> signing.SigningKey:  # noqa: ANN001 - a Row
    private_key = signing.private_key_from_pem(row.private_key_pem.encode(), passphrase if row.encrypted else None)
    return signing.SigningKey(row.kid, private_key, row.created_at, row.retired_at, row.publish_until)


async def _load(connection: AsyncConnection, passphrase: bytes | None) -> list[signing.SigningKey]:
    rows = await connection.execute(select(signing_keys).order_by(signing_keys.c.created_at))
    return [_row_to_key(row, passphrase) for row in rows]


def _insert_values(key: signing.SigningKey, passphrase: bytes | None) -> dict[str, object]:
    return {
        "kid": key.kid,
        "public_key": key.public_jwk()["x"],
        "private_key_pem": signing.private_key_to_pem(key.private_key, passphrase).decode(),
        "encrypted": bool(passphrase),
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "publish_until": key.publish_until,
    }


async def load_keys(engine: AsyncEngine, now: datetime, passphrase: bytes | None = None) -> list[signing.SigningKey]:
    """Every stored key, with an active one created first if there is none (safe against a racing process)."""
    async with engine.connect() as connection:
        keys = await _load(connection, passphrase)
    if any(key.retired_at is None for key in keys):
        return keys
    fresh = signing.generate_signing_key(now)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as connection:
        existing = (await connection.execute(
            select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None))
        )).first()
        if existing is None:
            insert = dialect.insert(signing_keys).values(**_insert_values(fresh, passphrase))
            await connection.execute(insert.on_conflict_do_nothing())
    async with engine.connect() as connection:
        return await _load(connection, passphrase)


async def rotate_key(
    engine: AsyncEngine, now: datetime, certificate_validity: timedelta, passphrase: bytes | None = None
) -> signing.SigningKey:
    """Retire the active key (published until its certificates expire) and make a new one active."""
    async with engine.begin() as connection:
        current = await _load(connection, passphrase)
        rotated = signing.rotate(current, now, certificate_validity)
        for old, new in zip(current, rotated):
            if old.retired_at != new.retired_at:
                await connection.execute(
                    signing_keys.update().where(signing_keys.c.kid == new.kid)
                    .values(retired_at=new.retired_at, publish_until=new.publish_until)
                )
        fresh = rotated[-1]
        await connection.execute(signing_keys.insert().values(**_insert_values(fresh, passphrase)))
    return fresh


async def published_jwks(engine: AsyncEngine, now: datetime) -> dict[str, list[dict[str, str]]]:
    """The JWKS of keys still published, from the stored public halves (no passphrase needed)."""
    query = (
        select(signing_keys.c.kid, signing_keys.c.public_key, signing_keys.c.publish_until)
        .order_by(signing_keys.c.created_at)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {
        "keys": [
            signing.public_jwk(row.kid, row.public_key)
            for row in rows
            if row.publish_until is None or row.publish_until > now
        ]
    }
