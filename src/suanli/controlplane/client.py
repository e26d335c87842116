"""HTTP client commands of `suanli`: capacity and nodes from a running control plane."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

from suanli.controlplane.render import capacity_table, nodes_table

SERVER_ENV = "SUANLI_SERVER"
KEY_ENV = "SUANLI_KEY"


class ClientError(RuntimeError):
    """The server refused or could not be reached; the message says why."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=os.environ.get(SERVER_ENV), help=f"control plane URL (env {SERVER_ENV})")
    parser.add_argument("--key", default=os.environ.get(KEY_ENV), help=f"API key (env {KEY_ENV})")
    parser.add_argument("--json", action="store_true", help="print the JSON answer instead of a table")


async def get_json(server: str, key: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    url = server.rstrip("/") + path
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, params=params, headers={"Authorization": f"Bearer {key}"}) as response:
                body = await response.json(content_type=None)
                if response.status != 200:
                    error = (body or {}).get("error", {})
                    raise ClientError(f"{response.status} {error.get('code')}: {error.get('message')}")
                return body
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as exc:
        raise ClientError(f"cannot reach {url}: {exc!r}") from exc


def _fetch(args: argparse.Namespace, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
    if not args.server or not args.key:
        print(f"suanli: --server and --key are required (or {SERVER_ENV}, {KEY_ENV})", file=sys.stderr)
        return None
    query = {k: str(v) for k, v in params.items() if v is not None}
    try:
        return asyncio.run(get_json(args.server, args.key, path, query))
    except ClientError as exc:
        print(f"suanli: {exc}", file=sys.stderr)
        return None


def run_capacity(args: argparse.Namespace) -> int:
    params = {"by": args.by, "status": args.status}
    params.update({f: getattr(args, f) for f in ("province", "datacenter", "rack", "accelerator_model", "vendor")})
    body = _fetch(args, "/v1/capacity", params)
    if body is None:
        return 1
    print(json.dumps(body, indent=2) if args.json else capacity_table(body))
    return 0


def run_nodes(args: argparse.Namespace) -> int:
    params = {f: getattr(args, f) for f in ("province", "datacenter", "rack", "status", "limit", "cursor")}
    body = _fetch(args, "/v1/nodes", params)
    if body is None:
        return 1
    print(json.dumps(body, indent=2) if args.json else nodes_table(body))
    return 0


def configure_capacity(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument("--by", default="province",
                        choices=["province", "datacenter", "rack", "accelerator_model", "vendor"])
    for name in ("province", "datacenter", "rack", "accelerator-model", "vendor"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--status", help="comma-separated statuses (default: all but revoked)")


def configure_nodes(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    for name in ("province", "datacenter", "rack", "status", "cursor"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--limit", type=int, default=100)
