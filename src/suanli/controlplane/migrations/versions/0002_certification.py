"""Certification: signing keys, certificates and their change feed, verdicts per node, job leases.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from suanli.controlplane.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("publish_until", UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("province", sa.String(8), nullable=False),
        sa.Column("datacenter", sa.String(256), nullable=False),
        sa.Column("rack", sa.String(256), server_default="", nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("capacity", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("issued_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_certificates_node_id_nodes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
    )
    op.create_index(op.f("ix_certificates_node_id"), "certificates", ["node_id"])
    op.create_index(op.f("ix_certificates_revoked_at_expires_at"), "certificates", ["revoked_at", "expires_at"])
    op.create_table(
        "certificate_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("certificate_id", sa.String(64), nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_events")),
    )
    op.create_table(
        "certification_status",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("certified", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.Text(), nullable=False),
        sa.Column("excluded_accelerators", sa.Text(), nullable=False),
        sa.Column("evaluated_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["node_id"], ["nodes.id"], name=op.f("fk_certification_status_node_id_nodes")),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_certification_status")),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    for table in ("leases", "certification_status", "certificate_events", "certificates", "signing_keys"):
        op.drop_table(table)
