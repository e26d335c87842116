"""Session cookies: what a forged, tampered, expired or foreign cookie gets (nothing)."""

from __future__ import annotations

from suanli.controlplane.dashboard.sessions import issue, verify

SECRET = b"s" * 32
NOW_S = 1_800_000_000.0


def test_a_cookie_names_its_key_until_it_expires() -> None:
    value = issue(SECRET, 42, ttl_s=3600, now_s=NOW_S)
    session = verify(SECRET, value, now_s=NOW_S + 10)
    assert session is not None and session.key_id == 42 and session.expires_at_s == int(NOW_S + 3600)
    assert verify(SECRET, value, now_s=NOW_S + 3600) is None


def test_two_logins_get_different_cookies() -> None:
    assert issue(SECRET, 1, 60, NOW_S) != issue(SECRET, 1, 60, NOW_S)


def test_another_secret_or_a_changed_field_breaks_the_signature() -> None:
    value = issue(SECRET, 7, ttl_s=3600, now_s=NOW_S)
    assert verify(b"t" * 32, value, now_s=NOW_S) is None
    version, key_id, expires, nonce, signature = value.split(".")
    for forged in (
        ".".join([version, "8", expires, nonce, signature]),
        ".".join([version, key_id, str(int(expires) + 86400), nonce, signature]),
        ".".join([version, key_id, expires, nonce, signature[:-2] + "AA"]),
    ):
        assert verify(SECRET, forged, now_s=NOW_S) is None


def test_malformed_cookies_are_refused() -> None:
    for value in ("", "s1", "s1.x.1.n.sig", "s2.1.1.n.sig", "a.b.c", "s1.1.99999999999.n"):
        assert verify(SECRET, value, now_s=NOW_S) is None
