"""The national feed: certified capacity, certificate claims, the certificate change feed and the signed summary."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from suanli.schema.common import AwareDatetime, ContractModel, NodeId, ProvinceCode

# Dense peak precisions carried everywhere; intelligent = fp16, general = fp32, HPC = fp64.
PRECISIONS: tuple[str, ...] = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

Count = Annotated[int, Field(ge=0, le=2**62)]
Bytes = Annotated[int, Field(ge=0, le=2**62)]
FlopsPerS = Annotated[float, Field(ge=0.0)]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Flops(ContractModel):
    """Peak dense FLOP/s per precision, never converted into one number."""

    fp64: FlopsPerS = 0.0
    fp32: FlopsPerS = 0.0
    tf32: FlopsPerS = 0.0
    fp16: FlopsPerS = 0.0
    bf16: FlopsPerS = 0.0
    fp8: FlopsPerS = 0.0
    int8: FlopsPerS = 0.0


class Capacity(ContractModel):
    """Certified supply of one node or a group: the figures national statistics add up."""

    cpu_physical_cores: Count = 0
    cpu_logical_cores: Count = 0
    memory_bytes: Bytes = 0
    # Catalog model name → devices.
    accelerators: dict[str, Count] = Field(default_factory=dict)
    flops: Flops = Field(default_factory=Flops)
    storage_local_bytes: Bytes = 0
    # sha256(datacenter + " " + "server:/export") → size: shared storage is counted once per source.
    network_storage: dict[Sha256Hex, Bytes] = Field(default_factory=dict)
    ports_400g: Count = 0
    ports_200g: Count = 0
    ports_100g: Count = 0

    @property
    def storage_bytes(self) -> int:
        return self.storage_local_bytes + sum(self.network_storage.values())


class CertificateClaims(ContractModel):
    """The payload of a node certificate (a JWT signed EdDSA by the control plane)."""

    model_config = ConfigDict(extra="allow")  # registered JWT claims a signer may add (aud, ...)

    iss: str
    sub: NodeId
    jti: Annotated[str, Field(min_length=1, max_length=64)]
    iat: int
    nbf: int
    exp: int
    datacenter: str
    province: ProvinceCode
    rack: str | None = None
    capacity: Capacity
    hardware: list[Sha256Hex]  # SHA-256 of each hardware identity (kind:value), sorted
    checks: list[str]  # the checks that passed
    # Device indexes left out (lost or with uncorrected ECC errors).
    excluded_accelerators: list[int] = Field(default_factory=list)


class CertificateEvent(ContractModel):
    """One entry of the change feed: a certificate issued (with its token) or revoked (with the reason)."""

    event_id: Annotated[int, Field(ge=1)]
    kind: Literal["issued", "revoked"]
    certificate_id: str
    node_id: NodeId
    at: AwareDatetime
    token: str | None = None
    reason: str | None = None


class CertificateFeedPage(ContractModel):
    """`GET /national/v1/certificates?cursor=`: events in feed order and where to continue."""

    events: list[CertificateEvent]
    next_cursor: str
    has_more: bool
    # A compact JWS (EdDSA, kid in the JWKS) over the cursor range, every event in order and the SHA-256
    # of every token: see `controlplane/certification/feed_signing.py`. Absent from older servers.
    page_token: str | None = None


class VendorSupply(ContractModel):
    """Certified accelerators of one vendor: devices and their datasheet FLOPS (no CPUs)."""

    accelerators: Count = 0
    flops: Flops = Field(default_factory=Flops)
    # Per precision, devices whose datasheet gives no figure there: counted above, adding no FLOPS.
    accelerators_without_flops: dict[str, Count] = Field(default_factory=dict)


class SupplyFigures(ContractModel):
    """Certified supply of a group of nodes with the racks that hold them."""

    racks: Count = 0  # registered racks holding at least one certified node
    rated_kw: Annotated[float, Field(ge=0.0)] = 0.0
    standard_racks: Annotated[float, Field(ge=0.0)] = 0.0  # rated_kw / 2.5
    nodes: Count = 0
    capacity: Capacity = Field(default_factory=Capacity)
    # Vendor (nvidia, huawei, hygon, cambricon, other; "unknown" for a model the catalog no longer
    # has) → its accelerators in `capacity`, priced by the catalog the summary was built with.
    by_vendor: dict[str, VendorSupply] = Field(default_factory=dict)


class SummaryGroup(SupplyFigures):
    """Certified supply of one data center."""

    province: ProvinceCode
    datacenter: str


class NationalSummary(ContractModel):
    """The `summary` claim of the signed summary: per data center, and the control plane's totals."""

    issuer: str
    generated_at: AwareDatetime
    groups: list[SummaryGroup]
    totals: SupplyFigures


class SignedSummary(ContractModel):
    """`GET /national/v1/summary`: the summary in clear and as a JWT whose `summary` claim is authoritative."""

    summary: NationalSummary
    token: str


class Jwk(ContractModel):
    """One public signing key (RFC 8037: OKP / Ed25519)."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"] = "sig"
    alg: Literal["EdDSA"] = "EdDSA"


class Jwks(ContractModel):
    """`GET /.well-known/jwks.json`: every key whose certificates may still be valid."""

    keys: list[Jwk]
