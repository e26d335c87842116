"""`GET /v1/nodes`, `/v1/nodes/{id}` and `/v1/nodes/{id}/usage`: what operators see of each node."""

from __future__ import annotations

from typing import Literal

from suanli.schema.common import AwareDatetime, ContractModel
from suanli.schema.inventory import Inventory
from suanli.schema.usage import Usage

NodeStatus = Literal["pending", "active", "quarantined", "revoked"]


class NodeSummary(ContractModel):
    node_id: str
    status: NodeStatus
    hostname: str
    province: str
    datacenter: str
    room: str | None = None
    rack: str | None = None
    accelerators: int = 0
    enrolled_at: AwareDatetime
    last_seen_at: AwareDatetime
    last_seq: int
    inventory_hash: str


class NodeList(ContractModel):
    """One page; pass `next_cursor` back as `cursor` for the next (null on the last page)."""

    nodes: list[NodeSummary]
    next_cursor: str | None = None


class NodeDetail(NodeSummary):
    status_reason: str | None = None
    inventory: Inventory
    inventory_changed_at: AwareDatetime
    latest_usage: Usage | None = None
    usage_sent_at: AwareDatetime | None = None
    # Agent clock minus server clock (s), estimated from the newest usage report and its arrival.
    clock_skew_s: float | None = None
    # False when |clock_skew_s| is beyond the control plane's bound: its timestamps are not trusted.
    clock_trusted: bool = True


class UsagePoint(ContractModel):
    seq: int
    sent_at: AwareDatetime
    downsampled: bool = False
    usage: Usage


class UsageHistory(ContractModel):
    node_id: str
    points: list[UsagePoint]
    next_cursor: str | None = None
