"""`suanli` admin commands on the database, and the client commands against a running app."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from suanli.controlplane.cli import build_parser, main, parse_duration
from suanli.controlplane.credentials import hash_secret
from suanli.controlplane.db import create_engine
from suanli.controlplane.store.tables import api_keys, audit_log, bootstrap_tokens, datacenters


async def _rows(url: str, table):  # noqa: ANN001, ANN202
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(select(table))).all()
    finally:
        await engine.dispose()


def test_token_create_prints_the_secret_last_and_stores_its_hash(database_url: str, capsys) -> None:
    code = main(["token", "create", "--database", database_url, "--datacenter", "dc-a", "--province", "CN-SD",
                 "--ttl", "2h", "--uses", "5"])
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0 and secret.startswith("slt_")
    [token] = asyncio.run(_rows(database_url, bootstrap_tokens))
    assert token.token_hash == hash_secret(secret) and token.max_uses == 5
    assert (token.expires_at - token.created_at) == timedelta(hours=2)
    [dc] = asyncio.run(_rows(database_url, datacenters))
    assert (dc.name, dc.province_code) == ("dc-a", "CN-SD")
    assert [row.action for row in asyncio.run(_rows(database_url, audit_log))] == ["token.create"]


def test_key_create_prints_the_secret_last(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert main(["key", "create", "--database", url, "--role", "national", "--name", "nat-1"]) == 0
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    [key] = asyncio.run(_rows(url, api_keys))
    assert secret.startswith("slk_") and key.key_hash == hash_secret(secret) and key.role == "national"


def test_database_from_environment(tmp_path: Path, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("SUANLI_DATABASE", url)
    assert main(["db", "upgrade"]) == 0
    assert "revision" in capsys.readouterr().out and (tmp_path / "env.db").exists()


def test_bad_province_is_a_configuration_error(tmp_path: Path, capsys) -> None:
    code = main(["token", "create", "--database", f"sqlite:///{tmp_path / 'p.db'}", "--datacenter", "d",
                 "--province", "Shandong"])
    assert code == 2 and "CN-SD" in capsys.readouterr().err


def test_unsupported_database_is_a_configuration_error(capsys) -> None:
    assert main(["db", "upgrade", "--database", "mysql://x/y"]) == 2
    assert "unsupported database" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_bad_duration() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration("soon")


def test_subcommand_table_builds_nested_commands() -> None:
    args = build_parser().parse_args(["key", "create", "--role", "admin"])
    assert args.role == "admin" and callable(args.run)


def test_client_without_server_fails_with_a_message(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SUANLI_SERVER", raising=False)
    monkeypatch.delenv("SUANLI_KEY", raising=False)
    assert main(["capacity"]) == 1
    assert "--server" in capsys.readouterr().err
