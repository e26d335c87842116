"""`GET /v1/certification`: each node's certification verdict as operators see it, problems first."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from suanli.schema.common import AwareDatetime, ContractModel
from suanli.schema.nodes import NodeStatus

CertificationState = Literal["certified", "uncertified", "unevaluated"]


class NodeCertification(ContractModel):
    """One node: `failures` maps each failing check to its reason; `stale` = not heard recently."""

    node_id: str
    hostname: str
    status: NodeStatus
    status_reason: str | None = None
    province: str
    datacenter: str
    rack: str | None = None
    last_seen_at: AwareDatetime
    stale: bool
    state: CertificationState
    failures: dict[str, str] = Field(default_factory=dict)
    evaluated_at: AwareDatetime | None = None


class CertificationCounts(ContractModel):
    certified: int = 0
    uncertified: int = 0
    unevaluated: int = 0
    stale: int = 0
    quarantined: int = 0


class CertificationList(ContractModel):
    """Quarantined nodes first, then stale, uncertified, unevaluated, certified; pass `next_cursor` back."""

    as_of: AwareDatetime
    stale_after_s: float
    counts: CertificationCounts
    nodes: list[NodeCertification]
    next_cursor: str | None = None
