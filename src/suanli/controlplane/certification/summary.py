"""The national summary: certified capacity per data center with its standard racks, signed as a JWT."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import signing
from suanli.controlplane.certification import keystore, store
from suanli.controlplane.certification.facts import rack_registry
from suanli.controlplane.certification.vendors import vendor_supply
from suanli.controlplane.racks_import import standard_racks
from suanli.national.totals import CapacitySum
from suanli.schema.national import NationalSummary, SignedSummary, SummaryGroup, SupplyFigures


def build_summary(
    issuer: str,
    now: datetime,
    live: list[tuple[str, str, str, str]],
    rated_kw: dict[tuple[str, str], float],
) -> NationalSummary:
    """Group live certificates by data center, each with its accelerators per vendor; racks count once each,
    and only if they hold a certified node."""
    sums: dict[tuple[str, str], CapacitySum] = defaultdict(CapacitySum)
    nodes: dict[tuple[str, str], int] = defaultdict(int)
    racks: dict[tuple[str, str], set[str]] = defaultdict(set)
    # Nodes of one build share their capacity JSON: each distinct text is parsed once (read-only dicts).
    parsed: dict[str, dict] = {}
    for province, datacenter, rack, capacity_json in live:
        capacity = parsed.get(capacity_json)
        if capacity is None:
            capacity = parsed[capacity_json] = json.loads(capacity_json)
        sums[(province, datacenter)].add(capacity)
        nodes[(province, datacenter)] += 1
        if (datacenter, rack) in rated_kw:
            racks[(province, datacenter)].add(rack)
    groups = []
    for (province, datacenter), total in sorted(sums.items()):
        kw = sum(rated_kw[(datacenter, rack)] for rack in racks[(province, datacenter)])
        capacity = total.result()
        groups.append(SummaryGroup(
            province=province, datacenter=datacenter, racks=len(racks[(province, datacenter)]), rated_kw=kw,
            standard_racks=standard_racks(kw), nodes=nodes[(province, datacenter)], capacity=capacity,
            by_vendor=vendor_supply(capacity.accelerators),
        ))
    everything = CapacitySum()
    for group in groups:
        everything.add(group.capacity)
    capacity = everything.result()
    totals = SupplyFigures(
        racks=sum(g.racks for g in groups), rated_kw=sum(g.rated_kw for g in groups),
        standard_racks=sum(g.standard_racks for g in groups), nodes=sum(g.nodes for g in groups),
        capacity=capacity, by_vendor=vendor_supply(capacity.accelerators),
    )
    return NationalSummary(issuer=issuer, generated_at=now, groups=groups, totals=totals)


async def signed_summary(
    engine: AsyncEngine, issuer: str, now: datetime, validity: timedelta, passphrase: bytes | None
) -> SignedSummary:
    """The summary in clear and as a JWT (claims iss, iat, exp, summary) signed with the active key."""
    _, rated_kw = await rack_registry(engine)
    certified = await store.live_certificates(engine, now)
    key = signing.active_key(await keystore.load_keys(engine, now, passphrase))
    # Adding up every live certificate is pure Python work (~1 s at 100 000 on a small machine): on
    # a thread, the event loop keeps answering (feed pages, operators' queries) between the GIL
    # switches instead of stalling until the summary is built.
    return await asyncio.to_thread(_build_and_sign, issuer, now, certified, rated_kw, validity, key)


def _build_and_sign(
    issuer: str, now: datetime, certified: list[tuple[str, str, str, str]],
    rated_kw: dict[tuple[str, str], float], validity: timedelta, key: signing.SigningKey,
) -> SignedSummary:
    summary = build_summary(issuer, now, certified, rated_kw)
    issued_s = int(now.timestamp())
    claims = {"iss": issuer, "iat": issued_s, "exp": issued_s + int(validity.total_seconds()),
              "summary": summary.model_dump(mode="json")}
    return SignedSummary(summary=summary, token=signing.sign_jwt(claims, key))
