"""Certificate claims carry what the issue asks for, and the sweep decides issue/renew/revoke/keep correctly."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from suanli.controlplane.certification.certificates import (
    CurrentCertificate,
    NodePlacement,
    build_claims,
    claims_fingerprint,
    decide,
)
from suanli.controlplane.certification.checks import CheckResult, Verdict
from suanli.schema.national import Capacity, CertificateClaims

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
PLACEMENT = NodePlacement("jinan-1", "CN-SD", "R01")
CAPACITY = Capacity(cpu_physical_cores=64, accelerators={"NVIDIA H100 SXM5 80GB": 8})
HARDWARE = ["a" * 64, "b" * 64]
CERTIFIED = Verdict("n1", (CheckResult("enrolled_not_revoked", True), CheckResult("accelerators_healthy", True)))
SILENT = Verdict("n1", (CheckResult("heard_recently", False, "silent for 400 s, more than 90 s"),))


def test_claims_carry_node_placement_capacity_hashes_checks_and_validity() -> None:
    claims = build_claims(
        issuer="https://cp.sd", node_id="n1", placement=PLACEMENT, capacity=CAPACITY,
        hardware=HARDWARE, verdict=CERTIFIED, now=NOW, validity=timedelta(hours=2),
    )
    assert (claims.iss, claims.sub, claims.datacenter, claims.province, claims.rack) == (
        "https://cp.sd", "n1", "jinan-1", "CN-SD", "R01"
    )
    assert claims.exp - claims.iat == 7200 and claims.iat == int(NOW.timestamp())
    assert claims.capacity == CAPACITY and claims.hardware == HARDWARE
    assert claims.checks == ["enrolled_not_revoked", "accelerators_healthy"]
    assert CertificateClaims.model_validate_json(claims.model_dump_json()) == claims


def test_uncertified_node_gets_no_claims() -> None:
    with pytest.raises(ValueError, match="heard_recently"):
        build_claims(issuer="x", node_id="n1", placement=PLACEMENT, capacity=CAPACITY,
                     hardware=HARDWARE, verdict=SILENT, now=NOW)


def test_fingerprint_changes_with_capacity_placement_and_hardware() -> None:
    base = claims_fingerprint(PLACEMENT, CAPACITY, HARDWARE)
    assert base == claims_fingerprint(PLACEMENT, CAPACITY.model_copy(), list(HARDWARE))
    assert base != claims_fingerprint(PLACEMENT, CAPACITY.model_copy(update={"cpu_physical_cores": 32}), HARDWARE)
    assert base != claims_fingerprint(replace(PLACEMENT, rack="R02"), CAPACITY, HARDWARE)
    assert base != claims_fingerprint(PLACEMENT, CAPACITY, HARDWARE[:1])


FRESH = CurrentCertificate("c1", "f1", NOW + timedelta(hours=20))


@pytest.mark.parametrize(
    ("current", "verdict", "fingerprint", "action", "reason"),
    [
        (None, CERTIFIED, "f1", "issue", ""),
        (None, SILENT, None, "none", ""),
        (FRESH, CERTIFIED, "f1", "keep", ""),
        (FRESH, CERTIFIED, "f2", "renew", "changed"),
        (replace(FRESH, expires_at=NOW + timedelta(hours=11)), CERTIFIED, "f1", "renew", "close to expiry"),
        (FRESH, SILENT, None, "revoke", "heard_recently: silent for 400 s"),
    ],
)
def test_sweep_decision(current, verdict, fingerprint, action, reason) -> None:  # noqa: ANN001
    decision = decide(current, verdict, fingerprint, NOW)
    assert decision.action == action
    assert reason in decision.reason
