"""Verification of a page of certificate events, a pure function so a process pool can share the work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from suanli.controlplane.signing import JwksVerifier, VerificationError
from suanli.schema.national import CertificateClaims


@dataclass(frozen=True)
class Checked:
    """One issued event after verification: its claims and kid, or the reason it cannot be trusted."""

    claims: dict[str, Any] | None
    kid: str = ""
    code: str = ""
    message: str = ""


def check_issued(verifier: JwksVerifier, event: dict[str, Any], now: datetime) -> Checked:
    """Signature against the JWKS, issuer, expiry, the claims contract, and agreement with the event."""
    try:
        header, claims = verifier.verify_with_header(event.get("token") or "", now=now, leeway_s=0)
        CertificateClaims.model_validate(claims)
    except VerificationError as error:
        return Checked(None, code=error.code, message=str(error))
    except ValidationError as exc:
        return Checked(None, code="bad_claims", message=f"claims do not follow the contract: {exc.error_count()} errors")
    if claims["sub"] != event["node_id"] or claims["jti"] != event["certificate_id"]:
        return Checked(None, code="mismatch", message="token names another node or certificate than its feed event")
    return Checked(claims, kid=str(header.get("kid", "")))


def check_page(jwks: dict[str, Any], issuer: str, now_s: float, events: list[dict[str, Any]]) -> list[Checked | None]:
    """Check every issued event of a page (None for revocations); runs in a worker process for big pulls."""
    verifier = JwksVerifier(jwks, issuer=issuer)
    now = datetime.fromtimestamp(now_s, timezone.utc)
    return [check_issued(verifier, event, now) if event["kind"] == "issued" else None for event in events]
