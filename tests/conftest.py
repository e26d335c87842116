"""Fixtures shared by every test package: PostgreSQL databases, free ports, the repository root."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestServer
from fakes.control_plane import FakeControlPlane

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "SUANLI_TEST_POSTGRES"


def free_tcp_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def _admin_execute(admin_url: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The server named by SUANLI_TEST_POSTGRES; skip without it, fail if it is set but unreachable."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL tests skipped (CI sets it)")
    try:
        asyncio.run(_admin_execute(url, "SELECT 1"))
    except Exception as exc:  # the variable promises a server: not reaching it is a failure
        pytest.fail(f"{POSTGRES_ENV}={url} is set but the server cannot be reached: {exc!r}")
    return url


@pytest.fixture
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (so parallel runs never share state)."""
    name = "suanli_t_" + uuid.uuid4().hex[:16]
    asyncio.run(_admin_execute(postgres_admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(postgres_admin_url, name)
    finally:
        asyncio.run(_admin_execute(postgres_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs twice: on the embedded SQLite default and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'suanli.db'}"
    return request.getfixturevalue("postgres_database_url")


@pytest.fixture
def plane() -> FakeControlPlane:
    """The in-process stand-in control plane the agent's unit tests deliver to."""
    return FakeControlPlane()


@pytest.fixture
async def server_url(plane: FakeControlPlane) -> AsyncIterator[str]:
    """`plane` served on a loopback port; its base URL."""
    server = TestServer(plane.app(), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")).rstrip("/")
    await server.close()
