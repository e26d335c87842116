"""The options of `suanli sim`, apart from the simulator so `suanli --help` stays quick to start."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


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
    parser.add_argument("--database", default=os.environ.get("SUANLI_DATABASE"),
                        help="mint the missing tokens on this control-plane database, as `suanli token create` "
                        "does (default: $SUANLI_DATABASE)")
    parser.add_argument("--usage-interval-s", type=float, default=30.0,
                        help="usage interval; 0 sends as fast as the server answers (default 30, as agents)")
    parser.add_argument("--cycles", type=int, help="usage reports per agent (default 1 unless --duration-s)")
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
