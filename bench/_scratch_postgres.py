"""A scratch PostgreSQL database for a benchmark run, next to the server's admin database."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def scratch_database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def admin_sql(admin_url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the admin database."""
    import asyncpg

    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
