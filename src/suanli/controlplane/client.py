"""HTTP client commands of `suanli`: capacity, nodes, one node and certification from a running control plane."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from suanli.controlplane.render import capacity_table, certs_table, node_text, nodes_table

SERVER_ENV = "SUANLI_SERVER"
KEY_ENV = "SUANLI_KEY"
REQUEST_TIMEOUT_S = 30


class ClientError(RuntimeError):
    """The server refused or could not be reached; the message says why."""


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", default=os.environ.get(SERVER_ENV), help=f"control plane URL (env {SERVER_ENV})")
    parser.add_argument("--key", default=os.environ.get(KEY_ENV), help=f"API key (env {KEY_ENV})")
    parser.add_argument("--json", action="store_true", help="print the JSON answer instead of a table")


async def get_json(server: str, key: str, path: str, params: dict[str, str]) -> dict[str, Any]:
    """The JSON answer of a GET; ClientError with a one-line reason for anything else."""
    url = server.rstrip("/") + path
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, params=params, headers={"Authorization": f"Bearer {key}"}) as response:
                try:
                    body = await response.json(content_type=None)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    raise ClientError(f"{response.status} from {url}: not a suanli control plane (no JSON answer)") from None
                if response.status != 200:
                    raise ClientError(_refusal(response.status, body))
                return body
    except asyncio.TimeoutError as exc:
        raise ClientError(f"no answer from {url} within {REQUEST_TIMEOUT_S} s") from exc
    except aiohttp.ClientError as exc:
        raise ClientError(f"cannot reach {server}: {getattr(exc, 'os_error', None) or exc}") from exc


def _refusal(status: int, body: Any) -> str:
    """`401 invalid_api_key: the API key is unknown or revoked` and a hint where one helps."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    text = f"{status} {error.get('code', 'error')}: {error.get('message', 'the server refused')}"
    detail = error.get("detail")
    if isinstance(detail, dict) and "node_id" in detail:
        text += f": {detail['node_id']}"
    if status == 401:
        text += f" (check --key or {KEY_ENV})"
    elif status == 403:
        text += " (this command needs an operator or admin key)"
    return text


def _fetch(args: argparse.Namespace, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
    if not args.server or not args.key:
        print(f"suanli: --server and --key are required (or {SERVER_ENV}, {KEY_ENV})", file=sys.stderr)
        return None
    if not args.server.startswith(("http://", "https://")):
        print(f"suanli: --server must be an http:// or https:// URL, not {args.server!r}", file=sys.stderr)
        return None
    query = {k: str(v) for k, v in params.items() if v is not None}
    try:
        return asyncio.run(get_json(args.server, args.key, path, query))
    except ClientError as exc:
        print(f"suanli: {exc}", file=sys.stderr)
        return None


def _print(args: argparse.Namespace, path: str, params: dict, render: Callable[[dict], str]) -> int:
    """GET one resource and print it: JSON with --json, else the readable rendering; 1 on errors."""
    body = _fetch(args, path, params)
    if body is None:
        return 1
    print(json.dumps(body, indent=2) if args.json else render(body))
    return 0


def run_capacity(args: argparse.Namespace) -> int:
    params = {"by": args.by, "status": args.status}
    params.update({f: getattr(args, f) for f in ("province", "datacenter", "rack", "accelerator_model", "vendor")})
    return _print(args, "/v1/capacity", params, capacity_table)


def run_nodes(args: argparse.Namespace) -> int:
    params = {f: getattr(args, f) for f in ("province", "datacenter", "rack", "status", "limit", "cursor")}
    return _print(args, "/v1/nodes", params, nodes_table)


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


def run_node_show(args: argparse.Namespace) -> int:
    return _print(args, f"/v1/nodes/{quote(args.node_id, safe='')}", {}, node_text)


def run_certs(args: argparse.Namespace) -> int:
    params = {f: getattr(args, f) for f in ("province", "datacenter", "state", "status", "limit", "cursor")}
    return _print(args, "/v1/certification", params, certs_table)


def configure_node_show(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    parser.add_argument("node_id", metavar="ID", help="node id, as `suanli nodes` lists it")


def configure_certs(parser: argparse.ArgumentParser) -> None:
    add_connection_arguments(parser)
    for name in ("province", "datacenter", "status", "cursor"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--state", choices=["certified", "uncertified", "unevaluated"])
    parser.add_argument("--limit", type=int, default=100)
