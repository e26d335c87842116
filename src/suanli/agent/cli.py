"""`suanli-agent`: one argparse subcommand per entry of COMMANDS, each with --config and --state-dir."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from suanli.agent.lean import load_network_stack_without_ssl

# Before anything imports asyncio: the agent process loads `ssl` only for an https server URL.
load_network_stack_without_ssl()

from suanli.agent import commands  # noqa: E402
from suanli.agent.config import (  # noqa: E402
    DEFAULT_CONFIG_PATH,
    DEFAULT_STATE_DIR,
    AgentConfig,
    ConfigError,
    load_config,
)

EXIT_CONFIG_ERROR = 2


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, one-line help, its own options, and what it does (returns an exit code)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def _flatten(groups: Sequence[list[str]] | None) -> list[str] | None:
    return None if groups is None else [name for group in groups for name in group]


def config_from_args(args: argparse.Namespace, **overrides: object) -> AgentConfig:
    """The effective config for a subcommand: its file, the environment, then its options."""
    return load_config(args.config, {"state_dir": args.state_dir, **overrides})


def _collect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help='print {"inventory": ..., "usage": ...} as JSON')
    parser.add_argument("--only", type=_names, action="append", metavar="NAMES",
                        help="run only these collectors (comma-separated; repeatable)")
    parser.add_argument("--disable", type=_names, action="append", metavar="NAMES",
                        help="switch these collectors off, besides those the config switches off")


def run_collect(args: argparse.Namespace) -> int:
    """One collection of this host, printed; needs no server and writes nothing."""
    from suanli.agent.runner import build_runner
    from suanli.agent.summary import render_summary

    config = config_from_args(args, collectors_enabled=_flatten(args.only))
    extra_disabled = _flatten(args.disable) or []
    config = config.model_copy(update={"collectors_disabled": [*config.collectors_disabled, *extra_disabled]})
    logging.basicConfig(level=config.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    runner = build_runner(config)
    try:
        inventory, usage = runner.inventory(), runner.usage()
    finally:
        runner.close()
    if args.json:
        document = {"inventory": inventory.model_dump(mode="json", by_alias=True),
                    "usage": usage.model_dump(mode="json", by_alias=True)}
        print(json.dumps(document, indent=2))
    else:
        print(render_summary(inventory, usage))
    return 0


def run_schema(args: argparse.Namespace) -> int:
    """The JSON Schema of what agents post: the v1 report batch."""
    from suanli.schema import ReportBatch

    print(json.dumps(ReportBatch.model_json_schema(by_alias=True), indent=2))
    return 0


# One entry per subcommand, in the order `--help` lists them.
COMMANDS: list[Command] = [
    Command("collect", "collect this host's inventory and usage once and print them", _collect_arguments, run_collect),
    Command("schema", "print the JSON Schema of the v1 report batch", lambda parser: None, run_schema),
    Command("enroll", "enroll this node with a control plane (stores node id and credential)",
            commands.enroll_arguments, commands.run_enroll),
    Command("run", "run the agent: collect, spool and deliver until stopped (systemd service)",
            lambda parser: None, commands.run_run),
    Command("status", "show enrollment, last delivery, spool depth, drops and collector states",
            commands.status_arguments, commands.run_status),
]


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=None, metavar="PATH",
                        help=f"TOML config file (default {DEFAULT_CONFIG_PATH}; that one may be absent)")
    common.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help=f"where the agent keeps its state (default {DEFAULT_STATE_DIR})")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="suanli-agent", description="suanli agent: measure and report this host")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help, parents=[common])
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; also callable from Python with explicit arguments."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"suanli-agent {args.command}: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR


if __name__ == "__main__":
    sys.exit(main())
