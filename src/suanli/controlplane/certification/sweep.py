"""The certification sweep: re-evaluate every node, quarantine identity conflicts, issue, renew and revoke."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import signing
from suanli.controlplane.certification import keystore, store
from suanli.controlplane.certification.certificates import (
    CurrentCertificate,
    NodePlacement,
    build_claims,
    claims_fingerprint,
    decide,
)
from suanli.controlplane.certification.checks import AcceleratorCatalog, NodeFacts, Verdict, evaluate
from suanli.controlplane.certification.facts import DigestCache, NodeRow, SweepInput, attach_latest_usage, gather
from suanli.controlplane.certification.identities import (
    Identity,
    IdentityConflict,
    find_identity_conflicts,
    hashed_identities,
)
from suanli.controlplane.certification.settings import CertificationSettings
from suanli.controlplane.store.nodes import set_node_status
from suanli.schema.national import CertificateClaims

log = logging.getLogger(__name__)
ACTOR = "certification"
# Nodes planned and written per transaction: what a sweep holds at once (latest usage, signed
# certificates, verdicts) stays bounded by this, not by the fleet.
SWEEP_CHUNK_NODES = 1000


@dataclass
class SweepStats:
    nodes: int = 0
    certified: int = 0
    issued: int = 0
    renewed: int = 0
    revoked: int = 0
    quarantined: list[str] = field(default_factory=list)
    stopped_at: int | None = None  # nodes swept when the lease was lost mid-pass (None: all)


Conflicts = dict[str, list[IdentityConflict]]


async def _quarantine_conflicts(
    engine: AsyncEngine, swept: SweepInput, now: datetime, stats: SweepStats
) -> tuple[Conflicts, dict[str, frozenset[Identity]]]:
    """Both claimants of a shared identity go to quarantine; nothing of either is overwritten."""
    identities = {row.node_id: row.digest.identities for row in swept.nodes if row.digest}
    conflicts = find_identity_conflicts(identities)
    for row in swept.nodes:
        if row.node_id in conflicts and row.status == "active":
            described = ", ".join(f"{c.identity.kind} shared with {c.other_node_id}" for c in conflicts[row.node_id])
            await set_node_status(engine, row.node_id, "quarantined", now, ACTOR, f"identity conflict: {described}")
            row.status = "quarantined"
            stats.quarantined.append(row.node_id)
    return conflicts, identities


def _facts(row: NodeRow, swept: SweepInput, conflicts: Conflicts, now: datetime) -> NodeFacts:
    return NodeFacts(
        node_id=row.node_id, status=row.status, datacenter=row.datacenter, now=now,
        enrolled_at=row.enrolled_at, last_seen_at=row.last_seen_at,
        usage_reports_in_window=row.usage_reports_in_window, inventory=row.inventory,
        latest_usage=row.latest_usage, identity_conflicts=tuple(conflicts.get(row.node_id, ())),
        registered_racks=swept.racks_by_datacenter.get(row.datacenter, frozenset()),
    )


@dataclass
class _Sweep:
    """One sweep's inputs and the changes it plans, written a chunk of nodes at a time."""

    settings: CertificationSettings
    issuer: str
    now: datetime
    key: signing.SigningKey
    current: dict[str, CurrentCertificate]
    identities: dict[str, frozenset[Identity]]
    stats: SweepStats
    issued: list[store.NewCertificate] = field(default_factory=list)
    revoked: list[store.Revocation] = field(default_factory=list)
    verdicts: list[store.VerdictRow] = field(default_factory=list)

    def _claims(self, row: NodeRow, verdict: Verdict) -> tuple[CertificateClaims, str] | None:
        if not verdict.certified or row.digest is None:
            return None
        placement = NodePlacement(row.datacenter, row.province, row.digest.checked.location.rack)
        capacity = row.digest.parts.without(verdict.excluded_accelerators)
        hardware = hashed_identities(self.identities.get(row.node_id, ()))
        claims = build_claims(
            issuer=self.issuer, node_id=row.node_id, placement=placement, capacity=capacity,
            hardware=hardware, verdict=verdict, now=self.now, validity=self.settings.validity,
        )
        return claims, claims_fingerprint(placement, capacity, hardware)

    def plan(self, row: NodeRow, verdict: Verdict) -> None:
        """Decide for one node and queue its certificate changes and verdict."""
        self.verdicts.append(
            store.VerdictRow(row.node_id, verdict.certified, verdict.failures(), verdict.excluded_accelerators)
        )
        self.stats.certified += verdict.certified
        made = self._claims(row, verdict)
        existing = self.current.get(row.node_id)
        decision = decide(existing, verdict, made[1] if made else None, self.now, self.settings.validity / 2)
        if decision.action in ("revoke", "renew") and existing is not None:
            reason = decision.reason if decision.action == "revoke" else f"superseded: {decision.reason}"
            self.revoked.append(store.Revocation(existing.certificate_id, row.node_id, reason))
        if decision.action in ("issue", "renew") and made is not None:
            self.issued.append(_new_certificate(row.node_id, made[0], self.key, made[1]))
        self.stats.issued += decision.action == "issue"
        self.stats.renewed += decision.action == "renew"
        self.stats.revoked += decision.action == "revoke"

    async def write(self, engine: AsyncEngine) -> None:
        """The planned changes in one transaction: a chunk's certificates and verdicts land together,
        so a sweep cut off between chunks leaves each node either fully swept or as before."""
        await store.apply_changes(engine, self.issued, self.revoked, self.verdicts, self.now)
        self.issued, self.revoked, self.verdicts = [], [], []


def _new_certificate(node_id: str, claims: CertificateClaims, key: signing.SigningKey, fingerprint: str) -> store.NewCertificate:
    return store.NewCertificate(
        certificate_id=claims.jti, node_id=node_id, kid=key.kid, province=claims.province,
        datacenter=claims.datacenter, rack=claims.rack or "", fingerprint=fingerprint,
        capacity_json=claims.capacity.model_dump_json(), token=signing.sign_jwt(claims.model_dump(mode="json"), key),
        issued_at=datetime.fromtimestamp(claims.iat, timezone.utc),
        expires_at=datetime.fromtimestamp(claims.exp, timezone.utc),
    )


async def run_sweep(
    engine: AsyncEngine, settings: CertificationSettings, issuer: str, now: datetime,
    catalog: AcceleratorCatalog | None = None, cache: DigestCache | None = None,
    chunk_nodes: int = SWEEP_CHUNK_NODES, keep_lease: Callable[[], Awaitable[bool]] | None = None,
) -> SweepStats:
    """One pass over every node, written a chunk of nodes per transaction; a pass cut off between
    chunks is finished by the next one (it finds the certificates already issued and keeps them).

    `keep_lease` is called before each chunk after the first: it extends the sweep lease, and when
    another process holds it by then (this pass outlasted the lease), the pass stops there rather than
    sweep beside that process.
    """
    policy = settings.policy()
    swept = await gather(engine, now, policy, cache)
    stats = SweepStats(nodes=len(swept.nodes))
    conflicts, identities = await _quarantine_conflicts(engine, swept, now, stats)
    key = signing.active_key(await keystore.load_keys(engine, now, settings.passphrase))
    async with engine.connect() as connection:
        current = await store.current_certificates(connection, now)
    sweep = _Sweep(settings, issuer, now, key, current, identities, stats)
    for start in range(0, len(swept.nodes), chunk_nodes):
        if start and keep_lease is not None and not await keep_lease():
            log.warning("certification sweep stopped after %d of %d nodes: the lease is held elsewhere",
                        start, len(swept.nodes))
            stats.stopped_at = start
            break
        chunk = swept.nodes[start : start + chunk_nodes]
        await attach_latest_usage(engine, chunk)
        for row in chunk:
            sweep.plan(row, evaluate(_facts(row, swept, conflicts, now), policy, catalog))
            row.latest_usage = None
        await sweep.write(engine)
    log.info("certification sweep: %s", stats)
    return stats
