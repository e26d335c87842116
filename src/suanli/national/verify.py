"""Verification of a page of certificate events, a pure function so a process pool can share the work.

The checks are those of `signing.JwksVerifier` (compact JWS, alg EdDSA, kid in the source's JWKS,
Ed25519 signature over `header.payload`, pinned issuer, expiry) plus the claims contract, done with
less work per token: a source signs with one or two keys, so each distinct header is decoded once per
page, and the payload is parsed and validated in one pass by pydantic's JSON validator.
"""

from __future__ import annotations

import binascii
import json
from base64 import urlsafe_b64decode
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from suanli.controlplane.signing import ALGORITHM, VerificationError
from suanli.national.state import CertificateRecord, record_of
from suanli.schema.national import CertificateClaims


@dataclass(frozen=True)
class Checked:
    """One issued event after verification: its stored record and kid, or the reason it cannot be trusted."""

    record: CertificateRecord | None
    kid: str = ""
    code: str = ""
    message: str = ""


def _b64url_decode(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _public_keys(jwks: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS by kid, parsed once (as `signing.JwksVerifier` does)."""
    return {
        jwk["kid"]: Ed25519PublicKey.from_public_bytes(_b64url_decode(jwk["x"]))
        for jwk in jwks.get("keys", [])
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk
    }


def _header_key(keys: dict[str, Ed25519PublicKey], header_b64: str) -> tuple[str, Ed25519PublicKey] | VerificationError:
    """The kid and key a JWS header names, or why it cannot be verified."""
    try:
        header = json.loads(_b64url_decode(header_b64))
    except (ValueError, TypeError) as exc:
        return VerificationError("malformed", f"not a compact JWS: {exc}")
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        return VerificationError("malformed", "algorithm is not EdDSA")
    kid = header.get("kid", "")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        return VerificationError("unknown_key", f"key {kid!r} is not in the issuer's JWKS")
    return kid, key


class PageVerifier:
    """Verifies the certificate tokens of one source; keys and headers are looked up once, not per token."""

    def __init__(self, jwks: dict[str, Any], issuer: str, now_s: float) -> None:
        self.keys = _public_keys(jwks)
        self.issuer = issuer
        self.now_s = now_s
        self.headers: dict[str, tuple[str, Ed25519PublicKey] | VerificationError] = {}

    def _key_of(self, header_b64: str) -> tuple[str, Ed25519PublicKey]:
        found = self.headers.get(header_b64)
        if found is None:
            found = self.headers[header_b64] = _header_key(self.keys, header_b64)
        if isinstance(found, VerificationError):
            raise VerificationError(found.code, str(found))
        return found

    def claims(self, token: str) -> tuple[str, CertificateClaims]:
        """The kid and validated claims of a token whose signature, issuer and expiry hold."""
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            kid, key = self._key_of(header_b64)
            key.verify(_b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode("ascii"))
            payload = _b64url_decode(payload_b64)
        except InvalidSignature as exc:
            raise VerificationError("bad_signature", "signature does not match the token") from exc
        except (ValueError, TypeError, binascii.Error) as exc:
            raise VerificationError("malformed", f"not a compact JWS: {exc}") from exc
        claims = CertificateClaims.model_validate_json(payload)
        if claims.iss != self.issuer:
            raise VerificationError("wrong_issuer", f"issuer {claims.iss!r} is not {self.issuer!r}")
        if claims.exp < self.now_s:
            raise VerificationError("expired", "token has expired")
        return kid, claims

    def check(self, event: dict[str, Any]) -> Checked:
        """Signature, issuer, expiry, the claims contract, and agreement with the feed event."""
        try:
            kid, claims = self.claims(event.get("token") or "")
        except VerificationError as error:
            return Checked(None, code=error.code, message=str(error))
        except ValidationError as exc:
            return Checked(None, code="bad_claims", message=f"claims do not follow the contract: {exc.error_count()} errors")
        if claims.sub != event["node_id"] or claims.jti != event["certificate_id"]:
            return Checked(None, code="mismatch", message="token names another node or certificate than its feed event")
        return Checked(record_of(claims), kid=kid)


def check_page(jwks: dict[str, Any], issuer: str, now_s: float, events: list[dict[str, Any]]) -> list[Checked | None]:
    """Check every issued event of a page (None for revocations); runs in a worker process for big pulls."""
    verifier = PageVerifier(jwks, issuer, now_s)
    return [verifier.check(event) if event["kind"] == "issued" else None for event in events]
