"""Initial schema: locations, racks, nodes, secrets, report history, live aggregates, audit log.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 23:29:48.404870
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import suanli.controlplane.store.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=256), server_default='', nullable=False),
    sa.Column('created_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=256), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=256), server_default='', nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('capacity_totals',
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('province', sa.String(length=8), nullable=False),
    sa.Column('datacenter', sa.String(length=256), nullable=False),
    sa.Column('rack', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('nodes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cpu_physical_cores', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cpu_logical_cores', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('memory_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('storage_local_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ports_400g', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ports_200g', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ports_100g', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('accelerators', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('accelerators_in_use', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('accelerators_unknown', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('flops_fp64', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp64_tensor', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp32', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_tf32', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp16', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_bf16', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp8', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_int8', sa.Float(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('level', 'province', 'datacenter', 'rack', 'status', name=op.f('pk_capacity_totals'))
    )
    op.create_table('model_totals',
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('province', sa.String(length=8), nullable=False),
    sa.Column('datacenter', sa.String(length=256), nullable=False),
    sa.Column('rack', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('vendor', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('known', sa.Boolean(), nullable=False),
    sa.Column('nodes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cpu_physical_cores', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('cpu_logical_cores', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('memory_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('storage_local_bytes', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ports_400g', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ports_200g', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('ports_100g', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('accelerators', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('accelerators_in_use', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('accelerators_unknown', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('flops_fp64', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp64_tensor', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp32', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_tf32', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp16', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_bf16', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_fp8', sa.Float(), server_default='0', nullable=False),
    sa.Column('flops_int8', sa.Float(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('level', 'province', 'datacenter', 'rack', 'status', 'vendor', 'model', name=op.f('pk_model_totals'))
    )
    op.create_table('network_source_refs',
    sa.Column('level', sa.SmallInteger(), nullable=False),
    sa.Column('province', sa.String(length=8), nullable=False),
    sa.Column('datacenter', sa.String(length=256), nullable=False),
    sa.Column('rack', sa.String(length=256), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('vendor', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=256), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('ref_count', sa.BigInteger(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('level', 'vendor', 'model', 'province', 'datacenter', 'rack', 'status', 'source', name=op.f('pk_network_source_refs'))
    )
    op.create_table('provinces',
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_provinces'))
    )
    op.create_table('datacenters',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('province_code', sa.String(length=8), nullable=False),
    sa.Column('created_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['province_code'], ['provinces.code'], name=op.f('fk_datacenters_province_code_provinces')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datacenters')),
    sa.UniqueConstraint('name', name=op.f('uq_datacenters_name'))
    )
    op.create_table('bootstrap_tokens',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('datacenter_id', sa.Integer(), nullable=False),
    sa.Column('expires_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('use_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_bootstrap_tokens_datacenter_id_datacenters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bootstrap_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_bootstrap_tokens_token_hash'))
    )
    op.create_table('nodes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('datacenter_id', sa.Integer(), nullable=False),
    sa.Column('province_code', sa.String(length=8), nullable=False),
    sa.Column('room', sa.String(length=256), server_default='', nullable=False),
    sa.Column('rack', sa.String(length=256), server_default='', nullable=False),
    sa.Column('hostname', sa.String(length=256), nullable=False),
    sa.Column('inventory', sa.Text(), nullable=False),
    sa.Column('inventory_hash', sa.String(length=64), nullable=False),
    sa.Column('inventory_seq', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('inventory_changed_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('latest_usage', sa.Text(), nullable=True),
    sa.Column('usage_seq', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('usage_sent_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.Column('contribution', sa.Text(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('compacted_seq', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('enrolled_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_nodes_datacenter_id_datacenters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes'))
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nodes_datacenter_id_rack'), ['datacenter_id', 'rack'], unique=False)
        batch_op.create_index(batch_op.f('ix_nodes_province_code'), ['province_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_nodes_status'), ['status'], unique=False)

    op.create_table('racks',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('datacenter_id', sa.Integer(), nullable=False),
    sa.Column('room', sa.String(length=256), server_default='', nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('rated_kw', sa.Float(), nullable=False),
    sa.Column('height_u', sa.Integer(), server_default='42', nullable=False),
    sa.Column('created_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['datacenter_id'], ['datacenters.id'], name=op.f('fk_racks_datacenter_id_datacenters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_racks')),
    sa.UniqueConstraint('datacenter_id', 'room', 'name', name=op.f('uq_racks_datacenter_id_room_name'))
    )
    op.create_table('inventory_history',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('sent_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('received_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('inventory_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_inventory_history_node_id_nodes')),
    sa.PrimaryKeyConstraint('node_id', 'seq', name=op.f('pk_inventory_history'))
    )
    op.create_table('node_credentials',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('credential_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_credentials_node_id_nodes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_node_credentials')),
    sa.UniqueConstraint('credential_hash', name=op.f('uq_node_credentials_credential_hash'))
    )
    with op.batch_alter_table('node_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_node_credentials_node_id'), ['node_id'], unique=False)

    op.create_table('usage_history',
    sa.Column('node_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('sent_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('received_at', suanli.controlplane.store.tables.UtcDateTime(timezone=True), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('downsampled', sa.Boolean(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_usage_history_node_id_nodes')),
    sa.PrimaryKeyConstraint('node_id', 'seq', name=op.f('pk_usage_history'))
    )
    with op.batch_alter_table('usage_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_usage_history_sent_at'), ['sent_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('usage_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_history_sent_at'))

    op.drop_table('usage_history')
    with op.batch_alter_table('node_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_node_credentials_node_id'))

    op.drop_table('node_credentials')
    op.drop_table('inventory_history')
    op.drop_table('racks')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nodes_status'))
        batch_op.drop_index(batch_op.f('ix_nodes_province_code'))
        batch_op.drop_index(batch_op.f('ix_nodes_datacenter_id_rack'))

    op.drop_table('nodes')
    op.drop_table('bootstrap_tokens')
    op.drop_table('datacenters')
    op.drop_table('provinces')
    op.drop_table('network_source_refs')
    op.drop_table('model_totals')
    op.drop_table('capacity_totals')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))

    op.drop_table('audit_log')
    op.drop_table('api_keys')
