"""Admin commands of certification: `suanli racks import FILE` and `suanli signing-key rotate`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import migrate
from suanli.controlplane.certification import keystore
from suanli.controlplane.config import load_config
from suanli.controlplane.db import create_engine
from suanli.controlplane.racks_import import RackRecord, RowError, parse_file_text
from suanli.controlplane.store.locations import ensure_datacenter, upsert_rack
from suanli.controlplane.store.tables import datacenters
from suanli.national.progress import Progress
from suanli.schema import utc_now

BATCH_ROWS = 500


def configure_racks_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="CSV (datacenter,name,rated_kw,height_u,room,province) or NetBox JSON")
    parser.add_argument("--database", help="database URL (env SUANLI_DATABASE)")
    parser.add_argument("--config", type=Path, help="TOML config file (env SUANLI_CONFIG)")


async def _province_of(engine: AsyncEngine, name: str) -> str | None:
    async with engine.connect() as connection:
        return (await connection.execute(
            select(datacenters.c.province_code).where(datacenters.c.name == name)
        )).scalar_one_or_none()


async def save_racks(engine: AsyncEngine, records: list[RackRecord], progress: Progress) -> list[RowError]:
    """Register or update every rack, in batches; a data center new to the registry needs its province."""
    errors: list[RowError] = []
    known: dict[str, str | None] = {}
    for start in range(0, len(records), BATCH_ROWS):
        async with engine.begin() as connection:
            for record in records[start : start + BATCH_ROWS]:
                if record.datacenter not in known:
                    known[record.datacenter] = await _province_of(engine, record.datacenter)
                province = record.province or known[record.datacenter]
                if province is None:
                    errors.append(RowError(record.row, "province", f"data center {record.datacenter} is new: give its province"))
                    continue
                try:
                    dc = await ensure_datacenter(connection, record.datacenter, province, utc_now())
                except ValueError as exc:
                    errors.append(RowError(record.row, "province", str(exc)))
                    continue
                known[record.datacenter] = dc.province
                await upsert_rack(connection, dc.id, record.name, record.rated_kw, utc_now(),
                                  room=record.room or "", height_u=record.height_u)
        progress.update(min(start + BATCH_ROWS, len(records)), len(records))
    return errors


async def racks_import(args: argparse.Namespace) -> int:
    """Parse, report bad rows, register the good ones; non-zero exit when any row was refused."""
    parsed = parse_file_text(args.file.name, args.file.read_text(encoding="utf-8-sig"))
    config = load_config(args.config, database=args.database)
    engine = create_engine(config.database_url)
    progress = Progress("racks")
    try:
        await migrate.upgrade(engine)
        save_errors = await save_racks(engine, parsed.racks, progress)
    finally:
        progress.close()
        await engine.dispose()
    for error in sorted(parsed.errors + save_errors, key=lambda e: e.row):
        print(f"{args.file}: row {error.row}: {error.field}: {error.message}", file=sys.stderr)
    imported = len(parsed.racks) - len(save_errors)
    print(f"imported {imported} racks, {len(parsed.errors) + len(save_errors)} rows refused")
    return 1 if parsed.errors or save_errors else 0


async def signing_key_rotate(args: argparse.Namespace) -> int:
    """Make a new signing key active; the old one stays published until its certificates expire."""
    config = load_config(args.config, database=args.database)
    settings = config.certification
    engine = create_engine(config.database_url)
    try:
        await migrate.upgrade(engine)
        await keystore.load_keys(engine, utc_now(), settings.passphrase)
        key = await keystore.rotate_key(engine, utc_now(), settings.validity, settings.passphrase)
    finally:
        await engine.dispose()
    print(f"new signing key {key.kid} active; previous keys published for another {settings.validity}")
    return 0
