"""Every table of the control plane, defined once; migrations create them, stores query them."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Precisions with a FLOPS column in the aggregates (the catalog's PRECISIONS, fixed per migration).
FLOPS_PRECISIONS: tuple[str, ...] = ("fp64", "fp64_tensor", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

NODE_STATUSES = ("pending", "active", "quarantined", "revoked")
API_KEY_ROLES = ("operator", "admin", "national")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on both stores (SQLite keeps no zone, so we strip and re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _totals_columns() -> list[Column]:
    """Summable figures shared by the node-level and per-model aggregate tables."""
    counts = [
        "nodes",
        "cpu_physical_cores",
        "cpu_logical_cores",
        "memory_bytes",
        "storage_local_bytes",
        "ports_400g",
        "ports_200g",
        "ports_100g",
        "accelerators",
        "accelerators_in_use",
        "accelerators_unknown",
    ]
    columns = [Column(name, BigInteger, nullable=False, server_default="0") for name in counts]
    columns += [
        Column(f"flops_{p}", Float, nullable=False, server_default="0") for p in FLOPS_PRECISIONS
    ]
    return columns


# Aggregate rows exist at three levels, so a query reads the coarsest rows that answer it:
# per rack (0), per data center (1, rack ''), per province (2, data center and rack '').
LEVEL_RACK, LEVEL_DATACENTER, LEVEL_PROVINCE = 0, 1, 2


# Group dimensions are '' (never NULL) when unknown, so the unique keys and upserts work.
def _dims() -> list[Column]:
    return [
        Column("level", SmallInteger, nullable=False),
        Column("province", String(8), nullable=False),
        Column("datacenter", String(256), nullable=False),
        Column("rack", String(256), nullable=False),
        Column("status", String(16), nullable=False),
    ]


provinces = Table(
    "provinces",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("name", String(256)),
)

datacenters = Table(
    "datacenters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("province_code", String(8), ForeignKey("provinces.code"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

racks = Table(
    "racks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("datacenter_id", Integer, ForeignKey("datacenters.id"), nullable=False),
    Column("room", String(256), nullable=False, server_default=""),
    Column("name", String(256), nullable=False),
    Column("rated_kw", Float, nullable=False),
    Column("height_u", Integer, nullable=False, server_default="42"),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("datacenter_id", "room", "name"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("status_reason", Text),
    Column("datacenter_id", Integer, ForeignKey("datacenters.id"), nullable=False),
    Column("province_code", String(8), nullable=False),
    Column("room", String(256), nullable=False, server_default=""),
    Column("rack", String(256), nullable=False, server_default=""),
    Column("hostname", String(256), nullable=False),
    Column("inventory", Text, nullable=False),
    Column("inventory_hash", String(64), nullable=False),
    Column("inventory_seq", BigInteger, nullable=False, server_default="0"),
    Column("inventory_changed_at", UtcDateTime, nullable=False),
    Column("latest_usage", Text),
    Column("usage_seq", BigInteger, nullable=False, server_default="0"),
    Column("usage_sent_at", UtcDateTime),
    # What this node adds to the aggregates now (JSON), so a change applies old → new as a delta.
    Column("contribution", Text, nullable=False),
    Column("last_seq", BigInteger, nullable=False, server_default="0"),
    # Usage seqs at or below this were downsampled away: a redelivery of one is a duplicate.
    Column("compacted_seq", BigInteger, nullable=False, server_default="0"),
    Column("enrolled_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("status_changed_at", UtcDateTime, nullable=False),
    Index(None, "datacenter_id", "rack"),
    Index(None, "province_code"),
    Index(None, "status"),
)

node_credentials = Table(
    "node_credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node_id", String(64), ForeignKey("nodes.id"), nullable=False, index=True),
    Column("credential_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

bootstrap_tokens = Table(
    "bootstrap_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("datacenter_id", Integer, ForeignKey("datacenters.id"), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("max_uses", Integer, nullable=False),
    Column("use_count", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("name", String(256), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)

inventory_history = Table(
    "inventory_history",
    metadata,
    Column("node_id", String(64), ForeignKey("nodes.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("inventory_hash", String(64), nullable=False),
    PrimaryKeyConstraint("node_id", "seq"),
)

usage_history = Table(
    "usage_history",
    metadata,
    Column("node_id", String(64), ForeignKey("nodes.id"), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("sent_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("body", Text, nullable=False),
    # True once a point stands for a whole downsampling interval, so compaction skips it.
    Column("downsampled", Boolean, nullable=False, server_default="0"),
    PrimaryKeyConstraint("node_id", "seq"),
    Index(None, "sent_at"),
)

capacity_totals = Table(
    "capacity_totals",
    metadata,
    *_dims(),
    *_totals_columns(),
    PrimaryKeyConstraint("level", "province", "datacenter", "rack", "status"),
)

model_totals = Table(
    "model_totals",
    metadata,
    *_dims(),
    Column("vendor", String(32), nullable=False),
    Column("model", String(256), nullable=False),
    Column("known", Boolean, nullable=False),
    *_totals_columns(),
    PrimaryKeyConstraint("level", "province", "datacenter", "rack", "status", "vendor", "model"),
)

# Network storage counts each source once per scope, so its aggregates are kept per source, not
# summed per node. A scope is a place (rack, data center, province, or every place at LEVEL_ALL)
# and an accelerator key: (vendor, model), (vendor, ALL) for every model of a vendor, (ALL, ALL)
# for every node. Statuses are columns, not keys, so one row tells which status sets see a source.
LEVEL_ALL = 3
ALL = "*"
NETWORK_REF_COLUMNS: tuple[str, ...] = tuple(f"refs_{status}" for status in NODE_STATUSES)


def _scope_dims() -> list[Column]:
    return [c for c in _dims() if c.name != "status"] + [
        Column("vendor", String(32), nullable=False),
        Column("model", String(256), nullable=False),
    ]


# The global size of each source (the largest any node mounting it reports now); its row is also
# the lock that serialises every change to the source's rows on PostgreSQL.
network_sources = Table(
    "network_sources",
    metadata,
    Column("source", String(1024), primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
)

# How many node mounts report each size of a source, so the largest can shrink when its node leaves.
network_source_sizes = Table(
    "network_source_sizes",
    metadata,
    Column("source", String(1024), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("mounts", BigInteger, nullable=False),
    PrimaryKeyConstraint("source", "size_bytes"),
)

# Nodes of each status mounting a source within a scope.
network_source_refs = Table(
    "network_source_refs",
    metadata,
    *_scope_dims(),
    Column("source", String(1024), nullable=False),
    *[Column(name, BigInteger, nullable=False, server_default="0") for name in NETWORK_REF_COLUMNS],
    PrimaryKeyConstraint("level", "vendor", "model", "province", "datacenter", "rack", "source"),
    Index(None, "source"),
)

# Deduplicated network bytes per scope and set of statuses (a bit mask, bit i = NODE_STATUSES[i]):
# the sum of the sizes of the sources some node of those statuses mounts in the scope.
network_totals = Table(
    "network_totals",
    metadata,
    *_scope_dims(),
    Column("statuses", SmallInteger, nullable=False),
    Column("network_bytes", BigInteger, nullable=False),
    PrimaryKeyConstraint("level", "statuses", "vendor", "model", "province", "datacenter", "rack"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False, server_default=""),
    Column("detail", Text),
    Index(None, "at"),
)

TOTALS_COUNT_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in capacity_totals.columns if isinstance(c.type, BigInteger)
)
TOTALS_FLOPS_COLUMNS: tuple[str, ...] = tuple(f"flops_{p}" for p in FLOPS_PRECISIONS)
TOTALS_VALUE_COLUMNS: tuple[str, ...] = TOTALS_COUNT_COLUMNS + TOTALS_FLOPS_COLUMNS
