"""Ed25519 JWTs verify against the JWKS, tampering and unknown keys are rejected, rotation keeps old tokens valid."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from suanli.controlplane import signing
from suanli.controlplane.signing import JwksVerifier, VerificationError

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
VALIDITY = timedelta(days=7)


def _claims(exp_days: float = 7) -> dict[str, object]:
    return {"iss": "https://cp.example", "sub": "n1", "exp": int((NOW + timedelta(days=exp_days)).timestamp())}


def _verifier(keys: list[signing.SigningKey], at: datetime = NOW) -> JwksVerifier:
    # Through JSON, as a puller receives the document.
    return JwksVerifier(json.loads(json.dumps(signing.build_jwks(keys, at))), issuer="https://cp.example")


def test_signed_token_verifies_and_carries_kid() -> None:
    key = signing.generate_signing_key(NOW)
    token = signing.sign_jwt(_claims(), key)
    assert _verifier([key]).verify(token, NOW)["sub"] == "n1"
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}


def test_jwks_is_okp_ed25519_with_thumbprint_kid() -> None:
    key = signing.generate_signing_key(NOW)
    (jwk,) = signing.build_jwks([key], NOW)["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert jwk["kid"] == signing.key_id(key.public_key)
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32


def _tamper_payload(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "n2"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_tampered_token_is_rejected() -> None:
    key = signing.generate_signing_key(NOW)
    with pytest.raises(VerificationError) as error:
        _verifier([key]).verify(_tamper_payload(signing.sign_jwt(_claims(), key)), NOW)
    assert error.value.code == "bad_signature"


def test_token_of_unknown_key_is_rejected() -> None:
    published, stranger = signing.generate_signing_key(NOW), signing.generate_signing_key(NOW)
    with pytest.raises(VerificationError) as error:
        _verifier([published]).verify(signing.sign_jwt(_claims(), stranger), NOW)
    assert error.value.code == "unknown_key"


def test_key_id_forged_onto_another_key_fails_the_signature() -> None:
    published, stranger = signing.generate_signing_key(NOW), signing.generate_signing_key(NOW)
    impostor = signing.SigningKey(published.kid, stranger.private_key, NOW)
    with pytest.raises(VerificationError) as error:
        _verifier([published]).verify(signing.sign_jwt(_claims(), impostor), NOW)
    assert error.value.code == "bad_signature"


@pytest.mark.parametrize(
    ("token", "code"),
    [("abc", "malformed"), ("a.b", "malformed"), ("eyJhbGciOiJIUzI1NiJ9.e30.c2ln", "malformed")],
)
def test_malformed_tokens_are_rejected(token: str, code: str) -> None:
    with pytest.raises(VerificationError) as error:
        _verifier([signing.generate_signing_key(NOW)]).verify(token, NOW)
    assert error.value.code == code


def test_expired_token_and_wrong_issuer_are_rejected() -> None:
    key = signing.generate_signing_key(NOW)
    with pytest.raises(VerificationError) as expired:
        _verifier([key]).verify(signing.sign_jwt(_claims(exp_days=-1), key), NOW)
    assert expired.value.code == "expired"
    foreign = signing.sign_jwt(_claims() | {"iss": "https://other.example"}, key)
    with pytest.raises(VerificationError) as issuer:
        _verifier([key]).verify(foreign, NOW)
    assert issuer.value.code == "wrong_issuer"


def test_rotation_keeps_old_certificates_verifiable_until_they_expire() -> None:
    keys = [signing.generate_signing_key(NOW)]
    old_token = signing.sign_jwt(_claims(), signing.active_key(keys))
    later = NOW + timedelta(days=1)
    keys = signing.rotate(keys, later, VALIDITY)
    new_key = signing.active_key(keys)
    assert new_key.kid != keys[0].kid and keys[0].retired_at == later
    assert _verifier(keys, later).verify(old_token, later)["sub"] == "n1"
    assert _verifier(keys, later).verify(signing.sign_jwt(_claims(), new_key), later)["sub"] == "n1"
    after_expiry = later + VALIDITY + timedelta(seconds=1)
    assert _verifier(keys, after_expiry).key_ids == {new_key.kid}


def test_second_rotation_keeps_first_retirement_date() -> None:
    keys = signing.rotate([signing.generate_signing_key(NOW)], NOW + timedelta(days=1), VALIDITY)
    keys = signing.rotate(keys, NOW + timedelta(days=2), VALIDITY)
    assert [k.retired_at for k in keys] == [NOW + timedelta(days=1), NOW + timedelta(days=2), None]


def test_private_key_pem_round_trip_with_and_without_passphrase() -> None:
    key = signing.generate_signing_key(NOW)
    for passphrase in (None, b"correct horse"):
        pem = signing.private_key_to_pem(key.private_key, passphrase)
        loaded = signing.private_key_from_pem(pem, passphrase)
        assert signing.key_id(loaded.public_key()) == key.kid
    encrypted = signing.private_key_to_pem(key.private_key, b"correct horse")
    assert b"ENCRYPTED" in encrypted
    with pytest.raises(ValueError):
        signing.private_key_from_pem(encrypted, b"wrong")
