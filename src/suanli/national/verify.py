"""Verification of a page of certificate events, a pure function so a process pool can share the work.

A page whose signed statement the puller has verified (`feed_signing.verified_page_digests`: one
Ed25519 signature over the cursor range, every event and every token's SHA-256) gives each issued
event the digest its token must have: a token with other bytes is rejected as `bad_signature`, and
its own signature need not be verified again. Every token is still checked on its own: compact JWS,
alg EdDSA, kid in the source's JWKS, pinned issuer, expiry, the claims contract and agreement with its
event. Without a page signature (an older server), or when asked to, each token's Ed25519 signature
over `header.payload` is verified as `signing.JwksVerifier` does. A source signs with one or two
keys, so each distinct header is decoded once per page, and the payload is parsed and validated in one
pass by pydantic's JSON validator.

What crosses the process boundary is kept to plain tuples (a named tuple or a dict pickles at about
twice the cost, and a page of 1 000 certificates goes out and back once per sync): in, one
`(certificate_id, node_id, token)` per issued event; out, the certificate's stored record
(`state.record_of`) or a `Refusal`.
"""

from __future__ import annotations

import binascii
import json
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from suanli.controlplane.certification.feed_signing import token_sha256
from suanli.controlplane.signing import ALGORITHM, VerificationError, b64url_decode
from suanli.national.state import Record, record_of
from suanli.schema.national import CertificateClaims

# An issued event as the puller sends it to a worker: (certificate_id, node_id, token or None).
Issued = tuple[str, str, str | None]


class Refusal(NamedTuple):
    """Why an issued event's token cannot be trusted (or has expired): a stable code and a message."""

    code: str
    message: str


def _public_keys(jwks: dict[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS by kid, parsed once (as `signing.JwksVerifier` does)."""
    return {
        jwk["kid"]: Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        for jwk in jwks.get("keys", [])
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk
    }


def _header_key(keys: dict[str, Ed25519PublicKey], header_b64: bytes) -> tuple[str, Ed25519PublicKey] | VerificationError:
    """The kid and key a JWS header names, or why it cannot be verified."""
    try:
        header = json.loads(b64url_decode(header_b64))
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

    def __init__(self, jwks: dict[str, Any], issuer: str, now_s: float, verify_signatures: bool = False) -> None:
        self.keys = _public_keys(jwks)
        self.issuer = issuer
        self.now_s = now_s
        self.verify_signatures = verify_signatures  # even tokens a verified page signature covers
        self.headers: dict[bytes, tuple[str, Ed25519PublicKey] | VerificationError] = {}

    def _key_of(self, header_b64: bytes) -> tuple[str, Ed25519PublicKey]:
        found = self.headers.get(header_b64)
        if found is None:
            found = self.headers[header_b64] = _header_key(self.keys, header_b64)
        if isinstance(found, VerificationError):
            raise VerificationError(found.code, str(found))
        return found

    def claims(self, token: str, signed_digest: str | None = None) -> tuple[str, CertificateClaims]:
        """The kid and validated claims of a token that is authentic, of the issuer and unexpired.

        Authentic: its SHA-256 is `signed_digest` (from a verified page signature), or its own
        signature verifies when there is no such digest or every signature is to be verified.
        A compact JWS is ASCII, so the token is encoded once and its segments are cut from those
        bytes (`token_sha256` hashes them as the control plane hashed the text).
        """
        try:
            raw = token.encode("ascii")
            header_b64, payload_b64, signature_b64 = raw.split(b".")
            kid, key = self._key_of(header_b64)
            if signed_digest is not None and token_sha256(raw) != signed_digest:
                raise VerificationError("bad_signature", "token differs from the one the signed page covers (SHA-256)")
            if signed_digest is None or self.verify_signatures:
                key.verify(b64url_decode(signature_b64), raw[: len(header_b64) + 1 + len(payload_b64)])
            payload = b64url_decode(payload_b64)
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

    def check(self, issued: Issued, signed_digest: str | None = None) -> Record | Refusal:
        """Authenticity, issuer, expiry, the claims contract, and agreement with the feed event."""
        certificate_id, node_id, token = issued
        try:
            kid, claims = self.claims(token or "", signed_digest)
        except VerificationError as error:
            return Refusal(error.code, str(error))
        except ValidationError as exc:
            return Refusal("bad_claims", f"claims do not follow the contract: {exc.error_count()} errors")
        if claims.sub != node_id or claims.jti != certificate_id:
            return Refusal("mismatch", "token names another node or certificate than its feed event")
        return record_of(kid, claims)


def issued_of(events: list[dict[str, Any]]) -> list[Issued | None]:
    """What a worker needs of each event of a page: the issued ones' ids and token, None for revocations."""
    return [(event["certificate_id"], event["node_id"], event.get("token")) if event["kind"] == "issued" else None
            for event in events]


def check_page(
    jwks: dict[str, Any], issuer: str, now_s: float, verify_signatures: bool, events: list[Issued | None],
    signed_digests: list[str | None] | None,
) -> list[Record | Refusal | None]:
    """Check every issued event of a page (None for revocations); runs in a worker process for big pulls.

    `events` come from `issued_of`; `signed_digests` are the token digests of the page's verified
    signature, None for an unsigned page.
    """
    verifier = PageVerifier(jwks, issuer, now_s, verify_signatures)
    digests = signed_digests if signed_digests is not None else [None] * len(events)
    return [verifier.check(event, digest) if event is not None else None for event, digest in zip(events, digests)]
