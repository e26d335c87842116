"""Statements sent straight to asyncpg (`db.postgres_fetch` / `postgres_execute`) stay inside the
SQLAlchemy transaction they are called in: rolled back with it, never committed on their own."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, text

from suanli.controlplane.db import create_engine, postgres_execute, postgres_fetch


class Abort(Exception):
    """Raised inside a transaction to make SQLAlchemy roll it back."""


async def _rows(engine) -> list[int]:  # noqa: ANN001
    async with engine.connect() as connection:
        return sorted((await connection.execute(text("SELECT v FROM driver_probe"))).scalars())


async def test_a_first_statement_sent_to_asyncpg_is_rolled_back_with_its_transaction(postgres_database_url: str) -> None:
    """SQLAlchemy's adapter sends BEGIN only with its own first statement: without the guard in
    `_postgres_driver` this insert would have committed by itself and outlived the rollback."""
    engine = create_engine(postgres_database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE driver_probe (v INTEGER)"))

        def insert_then_abort(connection: Connection) -> None:
            postgres_execute(connection, "INSERT INTO driver_probe (v) SELECT unnest($1::INTEGER[])", [1, 2])
            assert postgres_fetch(connection, "SELECT count(*) FROM driver_probe")[0][0] == 2  # same transaction
            raise Abort

        with pytest.raises(Abort):
            async with engine.begin() as connection:
                await connection.run_sync(insert_then_abort)
        assert await _rows(engine) == []

        async with engine.begin() as connection:
            await connection.run_sync(
                lambda c: postgres_execute(c, "INSERT INTO driver_probe (v) SELECT unnest($1::INTEGER[])", [3])
            )
        assert await _rows(engine) == [3]
    finally:
        await engine.dispose()
