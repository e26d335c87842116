"""The report envelope {schema, node_id, seq, sent_at, kind, body} and the batch agents post."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, TypeAdapter

from suanli.schema.common import SCHEMA_VERSION, AwareDatetime, ContractModel, NodeId
from suanli.schema.inventory import Inventory
from suanli.schema.usage import Usage

# seq is monotonic per node and survives agent restarts; (node_id, seq) is the idempotency key.
Seq = Annotated[int, Field(ge=1, le=2**62)]
MAX_BATCH_REPORTS = 500


class _Envelope(ContractModel):
    schema_version: Literal["v1"] = Field(default=SCHEMA_VERSION, alias="schema")
    node_id: NodeId
    seq: Seq
    sent_at: AwareDatetime

    model_config = {**ContractModel.model_config, "populate_by_name": True}


class InventoryReport(_Envelope):
    kind: Literal["inventory"] = "inventory"
    body: Inventory


class UsageReport(_Envelope):
    kind: Literal["usage"] = "usage"
    body: Usage


Report = Annotated[Union[InventoryReport, UsageReport], Field(discriminator="kind")]
report_adapter: TypeAdapter[InventoryReport | UsageReport] = TypeAdapter(Report)


class ReportBatch(ContractModel):
    """What `POST /v1/reports` takes: reports of one node, oldest first."""

    reports: Annotated[list[Report], Field(min_length=1, max_length=MAX_BATCH_REPORTS)]


class BatchAck(ContractModel):
    """The control plane's answer: which seqs it stored now and which it already had."""

    accepted: list[Seq] = Field(default_factory=list)
    duplicates: list[Seq] = Field(default_factory=list)
