"""`suanli sim`: simulate a fleet of agents against a control plane (or only plan it, with --plan-only)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from typing import Any

from suanli.sim.driver import SimConfig, Simulator
from suanli.sim.faults import FaultRates
from suanli.sim.fleet import Fleet, make_datacenters
from suanli.sim.ledger import Ledger, Totals
from suanli.sim.options import add_arguments
from suanli.sim.tokens import TokenError, create_tokens, from_arguments, read_tokens_file


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
        f"  FP16 / FP32      {totals.flops.get('fp16', 0) / 1e18:.3f} / "
        f"{totals.flops.get('fp32', 0) / 1e18:.3f} EFLOPS",
        f"  storage          {totals.storage_bytes / 1e15:.2f} PB "
        f"({totals.network_storage_bytes / 1e15:.2f} PB shared)",
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
