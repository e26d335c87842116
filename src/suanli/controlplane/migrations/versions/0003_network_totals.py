"""Network storage kept deduplicated per scope and set of statuses, instead of per query.

Revision ID: 0003
Revises: 0002

The old per-status reference rows are replaced by per-scope rows with a count per status, the
sizes each source is reported with, and the deduplicated totals; all are rebuilt from the nodes'
stored contributions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_STATUSES = ("pending", "active", "quarantined", "revoked")


def _scope_columns() -> list[sa.Column]:
    return [
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("province", sa.String(length=8), nullable=False),
        sa.Column("datacenter", sa.String(length=256), nullable=False),
        sa.Column("rack", sa.String(length=256), nullable=False),
        sa.Column("vendor", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
    ]


def upgrade() -> None:
    op.drop_table("network_source_refs")
    op.create_table(
        "network_sources",
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_network_sources")),
    )
    op.create_table(
        "network_source_sizes",
        sa.Column("source", sa.String(length=1024), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("mounts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "size_bytes", name=op.f("pk_network_source_sizes")),
    )
    op.create_table(
        "network_source_refs",
        *_scope_columns(),
        sa.Column("source", sa.String(length=1024), nullable=False),
        *[sa.Column(f"refs_{s}", sa.BigInteger(), server_default="0", nullable=False) for s in _STATUSES],
        sa.PrimaryKeyConstraint(
            "level", "vendor", "model", "province", "datacenter", "rack", "source",
            name=op.f("pk_network_source_refs"),
        ),
    )
    op.create_index(op.f("ix_network_source_refs_source"), "network_source_refs", ["source"])
    op.create_table(
        "network_totals",
        *_scope_columns(),
        sa.Column("statuses", sa.SmallInteger(), nullable=False),
        sa.Column("network_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "level", "statuses", "vendor", "model", "province", "datacenter", "rack", name=op.f("pk_network_totals")
        ),
    )
    # Every stored node's sources, added as enrollment adds them (a fresh database has none).
    from suanli.controlplane.store.aggregates import rebuild_network

    rebuild_network(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("0003 rebuilds network storage aggregates; restore a backup to go back")
