"""Migrations create exactly the tables the code defines, on both stores, and can run twice."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from suanli.controlplane import migrate
from suanli.controlplane.db import async_url, create_engine
from suanli.controlplane.store.tables import metadata


def _diff(connection) -> list:  # noqa: ANN001
    return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)


async def test_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    import suanli.controlplane.certification.tables  # noqa: F401 - its tables share the metadata

    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)  # idempotent: a second start changes nothing
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as connection:
            assert await connection.run_sync(_diff) == []
    finally:
        await engine.dispose()


def test_user_urls_map_to_async_drivers() -> None:
    assert async_url("sqlite:////var/lib/suanli/suanli.db") == "sqlite+aiosqlite:////var/lib/suanli/suanli.db"
    assert async_url("postgresql://u:p@db:5432/suanli") == "postgresql+asyncpg://u:p@db:5432/suanli"
