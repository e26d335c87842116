"""Each accelerator vendor's own aggregate rows, so a node with two models of one vendor counts once.

Revision ID: 0004
Revises: 0003

`model_totals` gains rows keyed (vendor, model '') holding a vendor's models of each node with the
node-level figures once; they are added up from the nodes' stored contributions. No column changes.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from suanli.controlplane.store.aggregates import rebuild_vendor_rows

    rebuild_vendor_rows(op.get_bind())


def downgrade() -> None:
    op.execute("DELETE FROM model_totals WHERE model = '' AND vendor <> ''")
