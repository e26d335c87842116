"""Admin commands that work on the database directly: migrations, tokens, API keys."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from suanli.controlplane import migrate
from suanli.controlplane.config import ControlPlaneConfig, load_config
from suanli.controlplane.db import create_engine
from suanli.controlplane.store.keys import create_api_key
from suanli.controlplane.store.tokens import create_token
from suanli.schema import utc_now

_PROVINCE_PATTERN = r"^CN-[A-Z]{2}$"


def _config(config_path: Path | None, database: str | None) -> ControlPlaneConfig:
    return load_config(config_path, database=database)


async def db_upgrade(config_path: Path | None, database: str | None) -> int:
    config = _config(config_path, database)
    engine = create_engine(config.database_url)
    try:
        await migrate.upgrade(engine)
        print(f"database at revision {await migrate.current_revision(engine)}")
    finally:
        await engine.dispose()
    return 0


async def token_create(args: argparse.Namespace) -> int:
    if not re.match(_PROVINCE_PATTERN, args.province):
        raise ValueError(f"--province must be an ISO 3166-2:CN code like CN-SD, not {args.province!r}")
    if args.uses < 1:
        raise ValueError("--uses must be at least 1")
    config = _config(args.config, args.database)
    engine = create_engine(config.database_url)
    try:
        await migrate.upgrade(engine)
        token = await create_token(engine, args.datacenter, args.province, args.ttl, args.uses, utc_now())
    finally:
        await engine.dispose()
    print(f"bootstrap token for {token.datacenter} ({token.province}), {token.max_uses} use(s), "
          f"expires {token.expires_at.isoformat()}:")
    print(token.secret)
    return 0


async def key_create(args: argparse.Namespace) -> int:
    config = _config(args.config, args.database)
    engine = create_engine(config.database_url)
    try:
        await migrate.upgrade(engine)
        secret = await create_api_key(engine, args.role, utc_now(), name=args.name)
    finally:
        await engine.dispose()
    print(f"API key with role {args.role}:")
    print(secret)
    return 0
