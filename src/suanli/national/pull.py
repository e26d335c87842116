"""`suanli national pull`: sync every source, then add up certified supply nationwide in national units."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from suanli.controlplane.certification.vendors import vendor_supply
from suanli.national.client import HttpSource
from suanli.national.state import PullState
from suanli.national.sync import Progress, SourceClient, SourceError, SourceReport, sync_source
from suanli.national.tally import Duplicate, tally
from suanli.national.totals import national_units, sum_capacities
from suanli.schema.national import Capacity


@dataclass
class PullResult:
    """Per-source reports, cross-source duplicates, and certified totals per province and nationwide."""

    sources: list[SourceReport] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)
    excluded_certificates: int = 0
    by_province: dict[str, Capacity] = field(default_factory=dict)
    nodes_by_province: dict[str, int] = field(default_factory=dict)
    standard_racks_by_province: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> Capacity:
        return sum_capacities(self.by_province.values())

    def to_json(self) -> dict[str, Any]:
        provinces = sorted(set(self.by_province) | set(self.standard_racks_by_province))
        total = self.total
        return {
            "sources": [_source_json(report) for report in self.sources],
            "failed_sources": self.failed,
            "duplicates": [d.__dict__ for d in self.duplicates],
            "excluded_certificates": self.excluded_certificates,
            "totals": {
                "nodes": sum(self.nodes_by_province.values()),
                **national_units(total, sum(self.standard_racks_by_province.values())),
                "by_vendor": {v: s.model_dump(mode="json") for v, s in vendor_supply(total.accelerators).items()},
            },
            "by_province": {
                p: {
                    "nodes": self.nodes_by_province.get(p, 0),
                    **national_units(self.by_province.get(p, Capacity()), self.standard_racks_by_province.get(p, 0.0)),
                }
                for p in provinces
            },
        }


def _source_json(report: SourceReport) -> dict[str, Any]:
    return {
        "url": report.url,
        "issuer": report.issuer,
        "issued": report.issued,
        "revoked": report.revoked,
        "expired": report.expired,
        "dropped_unpublished_key": report.dropped_unpublished,
        "certificates_held": report.held,
        "rejected": [r.__dict__ for r in report.rejected],
    }


def _standard_racks(summaries: dict[str, dict[str, Any]], urls: list[str]) -> dict[str, float]:
    racks: dict[str, float] = defaultdict(float)
    for url in urls:
        for group in summaries.get(url, {}).get("groups", []):
            racks[group["province"]] += group["standard_racks"]
    return dict(racks)


async def pull_clients(
    state: PullState, clients: list[tuple[str, SourceClient]], now: datetime | None = None, progress: Progress | None = None,
    verify_each_token: bool = False,
) -> PullResult:
    """Sync each source in order (a failing source is reported, the others still count), then tally.

    Feed pages are checked through their page signature; `verify_each_token` verifies every
    certificate's own signature as well (see `sync.py`).
    """
    now = now or datetime.now(timezone.utc)
    result = PullResult()
    for url, client in clients:
        try:
            result.sources.append(await sync_source(state, url, client, now, progress,
                                                    verify_each_token=verify_each_token))
        except SourceError as error:
            result.failed[url] = str(error)
    urls = [url for url, _ in clients if url not in result.failed]
    counted = tally(state, urls, now.timestamp())
    result.duplicates = counted.duplicates
    result.excluded_certificates = counted.excluded_certificates
    result.by_province = {p: c for p, c in counted.by_province.items()}
    result.nodes_by_province = counted.nodes_by_province
    result.standard_racks_by_province = _standard_racks(state.summaries(), urls)
    return result


async def pull(
    sources: list[tuple[str, str]], state_path: Path, progress: Progress | None = None, verify_each_token: bool = False
) -> PullResult:
    """Pull every (url, key) over HTTP into the state file at `state_path`."""
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state = PullState(state_path)
    try:
        async with aiohttp.ClientSession() as session:
            clients: list[tuple[str, SourceClient]] = [
                (url.rstrip("/"), HttpSource(session, url, key)) for url, key in sources
            ]
            return await pull_clients(state, clients, progress=progress, verify_each_token=verify_each_token)
    finally:
        state.close()


def run_pull(
    sources: list[tuple[str, str]], state_path: Path, progress: Progress | None = None, verify_each_token: bool = False
) -> PullResult:
    return asyncio.run(pull(sources, state_path, progress, verify_each_token))
