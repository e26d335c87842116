"""The certification tables (signing keys, certificates, their change feed, verdicts, leases), on the shared metadata."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from suanli.controlplane.store.tables import UtcDateTime, metadata

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),  # raw Ed25519 public key, base64url (the JWK's x)
    # PKCS#8 PEM, encrypted with the configured passphrase when there is one (see signing.py).
    Column("private_key_pem", Text, nullable=False),
    Column("encrypted", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("retired_at", UtcDateTime),
    Column("publish_until", UtcDateTime),
)

certificates = Table(
    "certificates",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("node_id", String(64), ForeignKey("nodes.id"), nullable=False),
    Column("kid", String(64), nullable=False),
    Column("province", String(8), nullable=False),
    Column("datacenter", String(256), nullable=False),
    Column("rack", String(256), nullable=False, server_default=""),
    Column("fingerprint", String(64), nullable=False),
    Column("capacity", Text, nullable=False),  # schema.national.Capacity as JSON
    Column("token", Text, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("revoke_reason", Text),
    Index(None, "node_id"),
    Index(None, "revoked_at", "expires_at"),
)

# The change feed: ids are handed out under a database lock, so id order is commit order (see store.py).
certificate_events = Table(
    "certificate_events",
    metadata,
    Column("id", EventId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # issued | revoked
    Column("certificate_id", String(64), nullable=False),
    Column("node_id", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("reason", Text),
)

certification_status = Table(
    "certification_status",
    metadata,
    Column("node_id", String(64), ForeignKey("nodes.id"), primary_key=True),
    Column("certified", Boolean, nullable=False),
    Column("failures", Text, nullable=False),  # JSON: check name → reason
    Column("excluded_accelerators", Text, nullable=False),  # JSON list of device indexes
    Column("evaluated_at", UtcDateTime, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)
