"""`suanli`: the control plane's command line, one table of subcommands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from suanli.controlplane import client

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Subcommand:
    """`path` like ("token", "create"); `configure` adds its options; `run` returns the exit status."""

    path: tuple[str, ...]
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `24h`, `7d`, `2w` (a bare number is seconds)."""
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30m, 24h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="database URL: sqlite:///PATH or postgresql://… (env SUANLI_DATABASE)")
    parser.add_argument("--config", type=Path, help="TOML config file (env SUANLI_CONFIG)")


def _serve_options(parser: argparse.ArgumentParser) -> None:
    _database_options(parser)
    parser.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:8440)")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this PEM certificate chain (env SUANLI_TLS_CERT)")
    parser.add_argument("--tls-key", type=Path, help="the PEM private key of --tls-cert (env SUANLI_TLS_KEY)")


def _token_options(parser: argparse.ArgumentParser) -> None:
    _database_options(parser)
    parser.add_argument("--datacenter", required=True, help="data center the token enrolls nodes into")
    parser.add_argument("--province", required=True, help="ISO 3166-2:CN code, e.g. CN-SD")
    parser.add_argument("--ttl", type=parse_duration, default=timedelta(hours=24), help="lifetime (default 24h)")
    parser.add_argument("--uses", type=int, default=1, help="how many nodes may enroll with it (default 1)")


def _key_options(parser: argparse.ArgumentParser) -> None:
    _database_options(parser)
    parser.add_argument("--role", required=True, choices=["operator", "admin", "national"])
    parser.add_argument("--name", default="", help="who or what the key is for (kept in the audit log)")


def _run_serve(args: argparse.Namespace) -> int:
    from suanli.controlplane.serve import serve

    return serve(args.config, args.database, args.listen, args.tls_cert, args.tls_key)


def _run_db_upgrade(args: argparse.Namespace) -> int:
    from suanli.controlplane.admin import db_upgrade

    return asyncio.run(db_upgrade(args.config, args.database))


def _run_token_create(args: argparse.Namespace) -> int:
    from suanli.controlplane.admin import token_create

    return asyncio.run(token_create(args))


def _run_key_create(args: argparse.Namespace) -> int:
    from suanli.controlplane.admin import key_create

    return asyncio.run(key_create(args))


def _racks_import_options(parser: argparse.ArgumentParser) -> None:
    from suanli.controlplane.certification.commands import configure_racks_import

    configure_racks_import(parser)


def _run_racks_import(args: argparse.Namespace) -> int:
    from suanli.controlplane.certification.commands import racks_import

    return asyncio.run(racks_import(args))


def _signing_key_options(parser: argparse.ArgumentParser) -> None:
    _database_options(parser)


def _run_signing_key_rotate(args: argparse.Namespace) -> int:
    from suanli.controlplane.certification.commands import signing_key_rotate

    return asyncio.run(signing_key_rotate(args))


def _national_pull_options(parser: argparse.ArgumentParser) -> None:
    from suanli.national.cli import configure_pull

    configure_pull(parser)


def _run_national_pull(args: argparse.Namespace) -> int:
    from suanli.national.cli import run_pull_command

    return run_pull_command(args)


def _sim_options(parser: argparse.ArgumentParser) -> None:
    from suanli.sim.options import add_arguments

    add_arguments(parser)


def _run_sim(args: argparse.Namespace) -> int:
    from suanli.sim.cli import run

    return run(args)


# Other commands join this table (racks import, signing-key rotate, national pull, certs, sim, node show).
SUBCOMMANDS: list[Subcommand] = [
    Subcommand(("serve",), "run the control plane", _serve_options, _run_serve),
    Subcommand(("db", "upgrade"), "apply database migrations", _database_options, _run_db_upgrade),
    Subcommand(("token", "create"), "create a bootstrap token (secret on the last line)", _token_options,
               _run_token_create),
    Subcommand(("key", "create"), "create an API key (secret on the last line)", _key_options, _run_key_create),
    Subcommand(("capacity",), "live capacity from a server", client.configure_capacity, client.run_capacity),
    Subcommand(("nodes",), "nodes of a server", client.configure_nodes, client.run_nodes),
    Subcommand(("node", "show"), "one node of a server: place, hardware, latest usage", client.configure_node_show,
               client.run_node_show),
    Subcommand(("certs",), "certification state of each node, failing checks first", client.configure_certs,
               client.run_certs),
    Subcommand(("racks", "import"), "register racks from CSV or a NetBox export", _racks_import_options,
               _run_racks_import),
    Subcommand(("signing-key", "rotate"), "make a new certificate signing key active", _signing_key_options,
               _run_signing_key_rotate),
    Subcommand(("national", "pull"), "pull certified supply from control planes and add it up",
               _national_pull_options, _run_national_pull),
    Subcommand(("sim",), "simulate a fleet of agents against a control plane", _sim_options, _run_sim),
]


def build_parser(subcommands: Sequence[Subcommand] = SUBCOMMANDS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="suanli", description="suanli control plane")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {(): parser.add_subparsers(dest="command", required=True)}
    parents: dict[tuple[str, ...], argparse.ArgumentParser] = {}
    for command in subcommands:
        for depth in range(1, len(command.path)):
            prefix = command.path[:depth]
            if prefix not in parents:
                parents[prefix] = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = parents[prefix].add_subparsers(dest=f"command_{depth}", required=True)
        leaf = groups[command.path[:-1]].add_parser(command.path[-1], help=command.help)
        command.configure(leaf)
        leaf.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # every start would list its plugins
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as exc:  # configuration errors: a message, not a traceback
        print(f"suanli: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
