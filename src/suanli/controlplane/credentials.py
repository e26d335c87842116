"""Secrets handed to callers: random, prefixed for recognisability, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

BOOTSTRAP_TOKEN_PREFIX = "slt_"
NODE_CREDENTIAL_PREFIX = "sln_"
API_KEY_PREFIX = "slk_"
SECRET_BYTES = 32  # 256 bits of randomness


def new_secret(prefix: str) -> str:
    """A fresh secret like `slt_…`; the prefix tells a leaked string's kind at a glance."""
    return prefix + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """What the database keeps: SHA-256 is enough for 256-bit random secrets (no dictionary to try)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
