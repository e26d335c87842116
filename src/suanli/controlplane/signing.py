"""Ed25519 signing keys, the JWKS document, EdDSA JWT signing and verification, and key rotation.

Private keys are serialized as PKCS#8 PEM. With a passphrase (the control plane's
`signing_key_passphrase` setting) the PEM is encrypted with the best scheme `cryptography`
offers; without one it is stored in clear and protected only by the database's access control,
so deployments that share the database with other users must set a passphrase.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"


class VerificationError(Exception):
    """A token that must not be trusted; `code` says why (unknown_key, bad_signature, expired, malformed)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_URLSAFE = bytes.maketrans(b"-_", b"+/")


def b64url_decode(segment: bytes | str) -> bytes:
    """base64url without padding, as `base64.urlsafe_b64decode` reads it (non-alphabet bytes are
    skipped); bytes are taken as they are, so a puller checking 100 000 tokens encodes each once."""
    data = segment.encode("ascii") if isinstance(segment, str) else segment
    return binascii.a2b_base64(data.translate(_URLSAFE) + b"=" * (-len(data) % 4))


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint: a kid that anyone can recompute from the public key."""
    canonical = json.dumps(
        {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public_key))}, separators=(",", ":"), sort_keys=True
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def public_jwk(kid: str, x: str) -> dict[str, str]:
    """A public Ed25519 JWK (RFC 8037) from its kid and base64url raw key."""
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": ALGORITHM}


@dataclass(frozen=True)
class SigningKey:
    """One Ed25519 key: active while `retired_at` is None, published until `publish_until` after that."""

    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime
    retired_at: datetime | None = None
    publish_until: datetime | None = None

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, str]:
        """The key as a JWK (RFC 8037, OKP / Ed25519)."""
        return public_jwk(self.kid, _b64url(_raw_public(self.public_key)))

    def is_published(self, now: datetime) -> bool:
        return self.publish_until is None or self.publish_until > now


def generate_signing_key(now: datetime) -> SigningKey:
    """A fresh Ed25519 key, active from `now`."""
    private_key = Ed25519PrivateKey.generate()
    return SigningKey(key_id(private_key.public_key()), private_key, now)


def private_key_to_pem(private_key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def private_key_from_pem(pem: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load a key written by `private_key_to_pem`; a wrong passphrase raises ValueError."""
    key = serialization.load_pem_private_key(pem, password=passphrase or None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("signing key is not an Ed25519 key")
    return key


def rotate(keys: Iterable[SigningKey], now: datetime, certificate_validity: timedelta) -> list[SigningKey]:
    """Retire the active keys and add a new one; retired keys stay published while their tokens live."""
    rotated = [
        replace(key, retired_at=now, publish_until=now + certificate_validity) if key.retired_at is None else key
        for key in keys
    ]
    return [*rotated, generate_signing_key(now)]


def active_key(keys: Iterable[SigningKey]) -> SigningKey:
    """The newest key that is not retired: the one new tokens are signed with."""
    candidates = [key for key in keys if key.retired_at is None]
    if not candidates:
        raise LookupError("no active signing key")
    return max(candidates, key=lambda key: key.created_at)


def build_jwks(keys: Iterable[SigningKey], now: datetime) -> dict[str, list[dict[str, str]]]:
    """The `/.well-known/jwks.json` document: every key whose tokens may still be valid."""
    published = sorted((key for key in keys if key.is_published(now)), key=lambda key: key.created_at)
    return {"keys": [key.public_jwk() for key in published]}


def sign_jwt(claims: Mapping[str, Any], key: SigningKey) -> str:
    """A compact JWS (EdDSA) of the claims with the key's kid in the header."""
    return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def token_kid(token: str) -> str:
    """The kid in a compact JWS header ('' when there is none or the header is unreadable)."""
    try:
        header = json.loads(b64url_decode(token.split(".", 1)[0]))
    except (ValueError, TypeError):
        return ""
    return str(header.get("kid", "")) if isinstance(header, dict) else ""


class JwksVerifier:
    """Verifies EdDSA JWTs against one issuer's JWKS; keys are parsed once, so bulk checks are cheap."""

    def __init__(self, jwks: Mapping[str, Any], issuer: str | None = None) -> None:
        self.issuer = issuer
        self._keys: dict[str, Ed25519PublicKey] = {}
        for jwk in jwks.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk:
                self._keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, token: str, now: datetime | None = None, leeway_s: float = 60.0) -> dict[str, Any]:
        """The token's claims if its signature, kid, algorithm, issuer and expiry all hold; else VerificationError."""
        return self.verify_with_header(token, now, leeway_s)[1]

    def verify_with_header(
        self, token: str, now: datetime | None = None, leeway_s: float = 60.0
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Like `verify`, returning the header too (its kid says which key signed)."""
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = json.loads(b64url_decode(header_b64))
            signature = b64url_decode(signature_b64)
        except (ValueError, TypeError) as exc:
            raise VerificationError("malformed", f"not a compact JWS: {exc}") from exc
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
            raise VerificationError("malformed", "algorithm is not EdDSA")
        public_key = self._keys.get(header.get("kid", ""))
        if public_key is None:
            raise VerificationError("unknown_key", f"key {header.get('kid')!r} is not in the issuer's JWKS")
        try:
            public_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
        except InvalidSignature as exc:
            raise VerificationError("bad_signature", "signature does not match the token") from exc
        try:
            claims = json.loads(b64url_decode(payload_b64))
        except ValueError as exc:
            raise VerificationError("malformed", f"payload is not JSON: {exc}") from exc
        if not isinstance(claims, dict):
            raise VerificationError("malformed", "payload is not a JSON object")
        self._check_claims(claims, now, leeway_s)
        return header, claims

    def _check_claims(self, claims: dict[str, Any], now: datetime | None, leeway_s: float) -> None:
        if self.issuer is not None and claims.get("iss") != self.issuer:
            raise VerificationError("wrong_issuer", f"issuer {claims.get('iss')!r} is not {self.issuer!r}")
        if now is not None and "exp" in claims and claims["exp"] + leeway_s < now.timestamp():
            raise VerificationError("expired", "token has expired")
