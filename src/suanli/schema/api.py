"""Request and response bodies of the HTTP API shared by agents and the control plane."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from suanli.schema.common import AwareDatetime, ContractModel, NodeId
from suanli.schema.inventory import Inventory

Secret = Annotated[str, Field(min_length=16, max_length=512)]


class EnrollRequest(ContractModel):
    """`POST /v1/enroll`: a bootstrap token and the node's first inventory."""

    token: Secret
    inventory: Inventory


class EnrollResponse(ContractModel):
    """The node's id and its credential (shown once; the control plane keeps only a hash)."""

    node_id: NodeId
    credential: Secret
    datacenter: str
    province: str
    server_time: AwareDatetime


class ErrorDetail(ContractModel):
    code: Annotated[str, Field(max_length=64)]
    message: str
    detail: Any = None


class ErrorResponse(ContractModel):
    """Every 4xx/5xx body: `{"error": {"code", "message", "detail"}}` with a stable code."""

    error: ErrorDetail
