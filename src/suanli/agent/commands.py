"""The `enroll`, `run` and `status` subcommands: setup checks, exit codes, the asyncio entry points."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from suanli.agent.enrollment import Enrollment, EnrollmentError, enroll, load_enrollment
from suanli.agent.logs import configure_logging, log_event, register_secret
from suanli.agent.state import InstanceLock, StateError, ensure_state_dir
from suanli.agent.status import status_command

if TYPE_CHECKING:  # the scheduler and HTTP stack load only for `run`, so other commands start fast
    from suanli.agent.service import Collection, ServiceConfig
else:
    Collection = ServiceConfig = Any

# Same status as the CLI's configuration errors; the unit's RestartPreventExitStatus names it so
# systemd does not restart an agent that cannot work until an admin acts (not enrolled, bad config).
EXIT_CONFIG = 2
EXIT_FAILURE = 1


def enroll_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, metavar="URL", help="control plane URL, e.g. https://cp.example")
    parser.add_argument("--token", required=True, metavar="TOKEN", help="bootstrap token from `suanli token create`")
    parser.add_argument("--force", action="store_true", help="replace an existing enrollment of this node")


def status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def run_enroll(args: argparse.Namespace) -> int:
    from suanli.agent.cli import config_from_args
    from suanli.agent.runner import build_runner

    register_secret(args.token)
    config = config_from_args(args)
    configure_logging(config.log_level)
    return enroll_command(config, build_runner(config), args.server, args.token, args.force)


def run_run(args: argparse.Namespace) -> int:
    from suanli.agent.cli import config_from_args
    from suanli.agent.runner import build_runner

    config = config_from_args(args)
    configure_logging(config.log_level)
    return run_command(config, build_runner, lambda: config_from_args(args))


def run_status(args: argparse.Namespace) -> int:
    from suanli.agent.cli import config_from_args

    return status_command(Path(config_from_args(args).state_dir), as_json=args.json)


def enroll_command(
    config: ServiceConfig, collection: Collection, server_url: str, token: str, force: bool = False
) -> int:
    """Collect the inventory and enroll; print the node id. Exit 0 on success, 1 on refusal."""
    try:
        inventory = collection.inventory()
    finally:
        collection.close()
    try:
        enrollment = asyncio.run(
            enroll(
                Path(config.state_dir),
                server_url,
                token,
                inventory,
                force=force,
                request_timeout_s=config.request_timeout_s,
                tls_verify=config.tls_verify,
                ca_bundle=str(config.ca_bundle) if config.ca_bundle else None,
            )
        )
    except (EnrollmentError, OSError) as exc:
        log_event("enroll.failed", 40, error=str(exc))
        return EXIT_FAILURE
    print(f"enrolled as node {enrollment.node_id} in {enrollment.datacenter} ({enrollment.province})")
    return 0


def run_command(
    config: ServiceConfig,
    collection_factory: Callable[[ServiceConfig], Collection],
    load_config: Callable[[], ServiceConfig] | None = None,
) -> int:
    """Run the agent until stopped. Only a setup problem (not enrolled, state dir) exits non-zero."""
    state_dir = Path(config.state_dir)
    lock = InstanceLock(state_dir)
    try:
        ensure_state_dir(state_dir)
        lock.acquire()
    except (StateError, OSError) as exc:
        log_event("agent.config_error", 50, error=str(exc), state_dir=str(state_dir))
        return EXIT_CONFIG
    try:
        enrollment = load_enrollment(state_dir)
        if enrollment is None:
            log_event("agent.not_enrolled", 50, state_dir=str(state_dir), hint="run suanli-agent enroll first")
            return EXIT_CONFIG
        return asyncio.run(_serve(config, enrollment, collection_factory, load_config))
    except EnrollmentError as exc:
        log_event("agent.config_error", 50, error=str(exc), state_dir=str(state_dir))
        return EXIT_CONFIG
    finally:
        lock.release()


async def _serve(
    config: ServiceConfig,
    enrollment: Enrollment,
    collection_factory: Callable[[ServiceConfig], Collection],
    load_config: Callable[[], ServiceConfig] | None,
) -> int:
    from suanli.agent.sdnotify import Notifier
    from suanli.agent.service import AgentService

    service = AgentService(config, enrollment, collection_factory(config), load_config, Notifier())
    return await service.run()
