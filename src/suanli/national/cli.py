"""`suanli national pull --source URL --key KEY [...] [--state PATH] [--json] [--verify-each-token]`: options, run and output."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from suanli.national.progress import Progress
from suanli.national.pull import PullResult, run_pull
from suanli.national.totals import EXA


def default_state_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "suanli" / "national-state.db"


def configure_pull(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", action="append", required=True, metavar="URL", help="a control plane (repeat)")
    parser.add_argument("--key", action="append", required=True, metavar="KEY", help="its national API key, in order")
    parser.add_argument("--state", type=Path, default=None, help=f"sync state file (default {default_state_path()})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--verify-each-token", action="store_true",
                        help="verify every certificate's own signature too, not only each feed page's signature")


def _print_text(result: PullResult) -> None:
    document = result.to_json()
    for source in document["sources"]:
        print(f"{source['url']}: {source['certificates_held']} certificates "
              f"(+{source['issued']} issued, {source['revoked']} revoked, {len(source['rejected'])} rejected)")
        for rejected in source["rejected"]:
            print(f"  REJECTED {rejected['certificate_id']} node {rejected['node_id']}: {rejected['code']}: {rejected['message']}")
    for url, reason in document["failed_sources"].items():
        print(f"{url}: FAILED: {reason}")
    for duplicate in document["duplicates"]:
        print(f"DUPLICATE hardware {duplicate['hardware_hash'][:16]}… under {', '.join(duplicate['sources'])} "
              f"(nodes {', '.join(duplicate['nodes'])}); counted under {duplicate['kept_source']} only")
    header = f"{'province':<10}{'nodes':>8}{'std racks':>11}{'EFLOPS FP16':>13}{'EFLOPS FP32':>13}{'EFLOPS FP64':>13}{'storage EB':>12}{'400G':>7}"
    print(header)
    rows = [*document["by_province"].items(), ("TOTAL", document["totals"])]
    for name, row in rows:
        print(f"{name:<10}{row['nodes']:>8}{row['standard_racks']:>11.1f}{row['eflops_fp16']:>13.6f}"
              f"{row['eflops_fp32']:>13.6f}{row['eflops_fp64']:>13.6f}{row['storage_eb']:>12.6f}{row['ports_400g']:>7}")
    _print_vendors(document["totals"]["by_vendor"])


def _print_vendors(by_vendor: dict[str, Any]) -> None:
    """Nationwide accelerators per vendor; devices without a datasheet figure are named, not shown as zero."""
    print(f"{'vendor':<10}{'devices':>8}{'EFLOPS FP16':>13}{'EFLOPS FP32':>13}{'EFLOPS FP64':>13}")
    for vendor, supply in by_vendor.items():
        flops, without = supply["flops"], supply["accelerators_without_flops"]
        missing = [f"{p} ×{without[p]}" for p in ("fp16", "fp32", "fp64") if without.get(p)]
        note = f"  no datasheet figure: {', '.join(missing)}" if missing else ""
        print(f"{vendor:<10}{supply['accelerators']:>8}{flops['fp16'] / EXA:>13.6f}{flops['fp32'] / EXA:>13.6f}"
              f"{flops['fp64'] / EXA:>13.6f}{note}")


def run_pull_command(args: argparse.Namespace) -> int:
    """Exit 0 when every source was pulled, 1 when one failed (the others are still counted)."""
    if len(args.source) != len(args.key):
        raise ValueError("give one --key for each --source, in the same order")
    progress = Progress("certificates")
    try:
        result = run_pull(list(zip(args.source, args.key)), args.state or default_state_path(),
                          lambda _url, done: progress.update(done), args.verify_each_token)
    finally:
        progress.close()
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        _print_text(result)
    return 1 if result.failed else 0
