"""Certificate claims for a certified node and the sweep's decision: issue, renew, revoke or keep."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from suanli.controlplane.certification.checks import Verdict
from suanli.schema.national import Capacity, CertificateClaims

DEFAULT_VALIDITY = timedelta(hours=24)


@dataclass(frozen=True)
class NodePlacement:
    """Where a node is counted: its enrollment data center and province, and its rack."""

    datacenter: str
    province: str
    rack: str | None


def claims_fingerprint(placement: NodePlacement, capacity: Capacity, hardware: list[str]) -> str:
    """A digest of what a certificate asserts, so an unchanged node is not re-certified every sweep."""
    document = {
        "placement": [placement.datacenter, placement.province, placement.rack],
        "capacity": capacity.model_dump(mode="json"),
        "hardware": hardware,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def build_claims(
    *,
    issuer: str,
    node_id: str,
    placement: NodePlacement,
    capacity: Capacity,
    hardware: list[str],
    verdict: Verdict,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
) -> CertificateClaims:
    """The claims of a new certificate for a node whose verdict is certified."""
    if not verdict.certified:
        raise ValueError(f"node {node_id} is not certified: {verdict.failures()}")
    issued_s = int(now.timestamp())
    return CertificateClaims(
        iss=issuer,
        sub=node_id,
        jti=uuid.uuid4().hex,
        iat=issued_s,
        nbf=issued_s,
        exp=issued_s + int(validity.total_seconds()),
        datacenter=placement.datacenter,
        province=placement.province,
        rack=placement.rack,
        capacity=capacity,
        hardware=hardware,
        checks=verdict.passed_names(),
        excluded_accelerators=list(verdict.excluded_accelerators),
    )


@dataclass(frozen=True)
class CurrentCertificate:
    """The node's valid certificate as the store holds it."""

    certificate_id: str
    fingerprint: str
    expires_at: datetime


Action = Literal["issue", "renew", "revoke", "keep", "none"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""


def decide(
    current: CurrentCertificate | None,
    verdict: Verdict,
    fingerprint: str | None,
    now: datetime,
    renew_before: timedelta = DEFAULT_VALIDITY / 2,
) -> Decision:
    """What the sweep does for one node; a renewal revokes the old certificate as superseded."""
    if not verdict.certified:
        if current is None:
            return Decision("none")
        reasons = "; ".join(f"{name}: {reason}" for name, reason in verdict.failures().items())
        return Decision("revoke", reasons)
    if current is None:
        return Decision("issue")
    if current.fingerprint != fingerprint:
        return Decision("renew", "certified capacity or identity changed")
    if current.expires_at - now <= renew_before:
        return Decision("renew", "certificate close to expiry")
    return Decision("keep")
