"""An in-memory control plane that signs like the real one, for unit tests of the puller's verification."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from suanli.controlplane import signing
from suanli.controlplane.certification.feed_signing import event_entry, sign_page
from suanli.controlplane.certification.identities import Identity
from suanli.schema.national import Capacity, CertificateClaims, Flops, NationalSummary, SummaryGroup, SupplyFigures


class SignedFeed:
    """Holds keys, certificate events and a summary, served through the SourceClient protocol."""

    def __init__(self, issuer: str, province: str, now: datetime) -> None:
        self.issuer, self.province, self.now = issuer, province, now
        self.keys = [signing.generate_signing_key(now)]
        self.events: list[dict[str, Any]] = []
        self.racks_kw = 25.0
        self.page_requests = 0
        self.summary_token: str | None = None
        self.signs_pages = True  # False: an older server without page tokens
        self.page_key: signing.SigningKey | None = None  # signs pages instead of the active key
        self.tamper_page: Callable[[dict[str, Any]], None] | None = None  # changes a page after it is signed

    def certify(self, node_id: str, gpu_uuids: list[str], key: signing.SigningKey | None = None,
                validity: timedelta = timedelta(hours=24)) -> CertificateClaims:
        """Issue a certificate for a node with 8 cores and one H100's FP16 per GPU."""
        claims = CertificateClaims(
            iss=self.issuer, sub=node_id, jti=f"{node_id}-{len(self.events)}",
            iat=int(self.now.timestamp()), nbf=int(self.now.timestamp()),
            exp=int((self.now + validity).timestamp()),
            datacenter=f"dc-{self.province}", province=self.province, rack="R01",
            capacity=Capacity(cpu_physical_cores=8, memory_bytes=2**34, accelerators={"H100": len(gpu_uuids)},
                              flops=Flops(fp16=1e15 * len(gpu_uuids), fp32=1e13, fp64=5e12), storage_local_bytes=10**12,
                              ports_400g=len(gpu_uuids)),
            hardware=sorted(Identity("accelerator_uuid", u).digest() for u in gpu_uuids),
            checks=["enrolled_not_revoked"],
        )
        token = signing.sign_jwt(claims.model_dump(mode="json"), key or signing.active_key(self.keys))
        self.add_event("issued", claims.jti, node_id, token=token)
        return claims

    def add_event(self, kind: str, certificate_id: str, node_id: str, **extra: Any) -> None:
        self.events.append({"event_id": len(self.events) + 1, "kind": kind, "certificate_id": certificate_id,
                            "node_id": node_id, "at": self.now.isoformat(), **extra})

    async def jwks(self) -> dict[str, Any]:
        return signing.build_jwks(self.keys, self.now)

    async def summary(self) -> dict[str, Any]:
        group = SummaryGroup(province=self.province, datacenter=f"dc-{self.province}", racks=1,
                             rated_kw=self.racks_kw, standard_racks=self.racks_kw / 2.5)
        summary = NationalSummary(issuer=self.issuer, generated_at=self.now, groups=[group],
                                  totals=SupplyFigures(**group.model_dump(exclude={"province", "datacenter"})))
        token = self.summary_token or signing.sign_jwt(
            {"iss": self.issuer, "summary": summary.model_dump(mode="json")}, signing.active_key(self.keys)
        )
        return {"summary": summary.model_dump(mode="json"), "token": token}

    async def certificates(self, cursor: str, limit: int) -> dict[str, Any]:
        self.page_requests += 1
        after = int(cursor or 0)
        page = [e for e in self.events if e["event_id"] > after][:limit]
        next_cursor = str(page[-1]["event_id"]) if page else str(after)
        served: dict[str, Any] = {"events": [dict(e) for e in page], "next_cursor": next_cursor, "has_more": len(page) == limit}
        if self.signs_pages:
            entries = [event_entry(e["event_id"], e["kind"], e["certificate_id"], e["node_id"], e.get("reason"),
                                   e.get("token")) for e in page]
            served["page_token"] = sign_page(self.page_key or signing.active_key(self.keys), issuer=self.issuer,
                                             issued_s=int(self.now.timestamp()), cursor=cursor,
                                             next_cursor=next_cursor, has_more=served["has_more"], entries=entries)
        if self.tamper_page is not None:
            self.tamper_page(served)
        return served
