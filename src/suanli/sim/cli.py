"""`suanli sim`: simulate a fleet of agents against a control plane (or only plan it, with --plan-only)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from suanli.sim.driver import SimConfig, Simulator
from suanli.sim.faults import FaultRates
from suanli.sim.fleet import Fleet, make_datacenters
from suanli.sim.ledger import Ledger, Totals
from suanli.sim.tokens import TokenError, create_tokens, from_arguments, read_tokens_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `suanli sim` (shared by the `suanli` CLI and `python -m suanli.sim`)."""
    parser.add_argument("--server", help="control plane URL, e.g. http://127.0.0.1:8440; several comma-separated "
                        "share the agents (agent i → URL i mod n)")
    parser.add_argument("--nodes", type=int, default=100, help="simulated agents (default 100)")
    parser.add_argument("--datacenters", type=int, default=2, help="data centers (default 2)")
    parser.add_argument("--provinces", default="CN-SD,CN-JS", help="comma-separated ISO 3166-2:CN codes")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same fleet (default 1)")
    parser.add_argument("--token", action="append", default=[], metavar="[DC=]TOKEN",
                        help="bootstrap token; repeat, one per data center (bare ones go in data-center order)")
    parser.add_argument("--tokens-file", type=Path, help='JSON {"datacenter": "token" | {"token", "province"}}')
    parser.add_argument("--database", help="create the tokens on this control-plane database (suanli token create)")
    parser.add_argument("--usage-interval-s", type=float, default=30.0,
                        help="usage interval; 0 sends as fast as the server answers (default 30, as agents)")
    parser.add_argument("--cycles", type=int, help="usage reports per agent (default 3 unless --duration-s)")
    parser.add_argument("--duration-s", type=float, help="stop the usage phase after this long")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight at once (default 64)")
    parser.add_argument("--connections", type=int, default=64, help="HTTP connection pool size (default 64)")
    for name, what in (("silent", "nodes that go silent after their first usage report"),
                       ("gpu-lost", "GPU nodes that lose one GPU"),
                       ("duplicate-identity", "nodes claiming the previous node's machine-id, GPU UUIDs, serials"),
                       ("malformed", "usage reports first sent malformed (4xx expected)")):
        parser.add_argument(f"--fault-{name}", type=float, default=0.0, metavar="P", help=f"share of {what}")
    parser.add_argument("--racks-csv", type=Path, help="write the rack registry CSV (for suanli racks import)")
    parser.add_argument("--ledger-json", type=Path, help="write the ledger of what was sent as JSON")
    parser.add_argument("--plan-only", action="store_true", help="plan the fleet and print its ledger; send nothing")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")


def _fleet(args: argparse.Namespace) -> tuple[Fleet, dict[str, str]]:
    """The fleet and its tokens: a tokens file fixes the data centers, otherwise they are generated."""
    provinces = [p.strip() for p in args.provinces.split(",") if p.strip()]
    file_tokens: dict[str, str] = {}
    if args.tokens_file:
        file_tokens, file_provinces = read_tokens_file(args.tokens_file)
        datacenters = [(name, file_provinces.get(name) or provinces[i % len(provinces)])
                       for i, name in enumerate(file_tokens)]
    else:
        datacenters = make_datacenters(args.datacenters, provinces)
    fleet = Fleet(args.nodes, datacenters, seed=args.seed)
    tokens = {**file_tokens, **from_arguments(args.token, [dc.name for dc in fleet.datacenters])}
    if args.database and not args.plan_only:
        uses = Counter(plan.datacenter for plan in fleet.plans)
        missing = [(dc.name, dc.province) for dc in fleet.datacenters if dc.name not in tokens]
        tokens.update(create_tokens(args.database, missing, dict(uses)))
    return fleet, tokens


def _planned_ledger(fleet: Fleet) -> Ledger:
    ledger = Ledger(fleet.racks)
    for index in range(len(fleet)):
        ledger.record(index, fleet.inventory(index))
    return ledger


def _format_totals(totals: Totals) -> str:
    accelerators = ", ".join(f"{n} × {model}" for model, n in sorted(totals.catalog_accelerators.items())) or "none"
    return "\n".join([
        f"  nodes            {totals.nodes}",
        f"  CPU cores        {totals.physical_cores} physical / {totals.logical_cores} logical",
        f"  memory           {totals.memory_bytes / 2**40:.1f} TiB",
        f"  accelerators     {sum(totals.catalog_accelerators.values())}: {accelerators}",
        f"  FP16 / FP32      {totals.flops.get('fp16', 0) / 1e18:.3f} / {totals.flops.get('fp32', 0) / 1e18:.3f} EFLOPS",
        f"  storage          {totals.storage_bytes / 1e15:.2f} PB ({totals.network_storage_bytes / 1e15:.2f} PB shared)",
        f"  ports            {totals.ports_400g} × 400G, {totals.ports_200g} × 200G, {totals.ports_100g} × 100G",
        f"  racks            {totals.racks} ({totals.standard_racks:.1f} standard racks of 2.5 kW)",
    ])


def _print_result(result: dict[str, Any], totals: Totals, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, separators=(",", ":"), default=str))
        return
    for name, phase in result.get("phases", {}).items():
        print(f"{name:7s} {phase['requests']} requests in {phase['elapsed_s']} s "
              f"({phase['requests_per_s']}/s, p50 {phase['latency_p50_ms']} ms, p99 {phase['latency_p99_ms']} ms), "
              f"{phase['reports_accepted']} reports accepted, {phase['failures']} failures, "
              f"statuses {phase['statuses']}")
    if "malformed" in result and result["malformed"]["sent"]:
        print(f"malformed {json.dumps(result['malformed'])}")
    sent = "phases" in result
    print("ledger (what the control plane acknowledged):" if sent else "ledger (the planned fleet; nothing sent):")
    print(_format_totals(totals))


def run(args: argparse.Namespace) -> int:
    """Run `suanli sim` from parsed options; 0 when every report was acknowledged and the contract held."""
    try:
        fleet, tokens = _fleet(args)
    except (TokenError, ValueError) as exc:
        print(f"suanli sim: {exc}", file=sys.stderr)
        return 2
    if args.racks_csv:
        args.racks_csv.write_text(fleet.racks_csv())
    if args.plan_only:
        ledger = _planned_ledger(fleet)
        outcome: dict[str, Any] = {"ledger": ledger.as_dict()}
        code = 0
    else:
        if not args.server:
            print("suanli sim: --server is required (or --plan-only)", file=sys.stderr)
            return 2
        rates = FaultRates(args.fault_silent, args.fault_gpu_lost, args.fault_duplicate_identity, args.fault_malformed)
        config = SimConfig(server=args.server, tokens=tokens, usage_interval_s=args.usage_interval_s,
                           cycles=args.cycles, duration_s=args.duration_s, concurrency=args.concurrency,
                           connections=args.connections, faults=rates, seed=args.seed)
        try:
            result = asyncio.run(Simulator(fleet, config).run())
        except ValueError as exc:
            print(f"suanli sim: {exc}", file=sys.stderr)
            return 2
        ledger, outcome = result.ledger, result.as_dict()
        failed = sum(p.failures for p in result.phases.values()) + result.unacknowledged_reports
        code = 1 if failed or result.malformed.contract_violations else 0
    if args.ledger_json:
        args.ledger_json.write_text(json.dumps(ledger.as_dict(), indent=1))
    _print_result(outcome, ledger.totals(), args.json)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="suanli sim", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
