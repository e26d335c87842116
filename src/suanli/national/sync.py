"""Pull one control plane: verify its summary and every certificate event against its JWKS, apply them to state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from suanli.controlplane.signing import JwksVerifier, VerificationError, token_kid
from suanli.national.state import PullState, StoredCertificate
from suanli.schema.national import CertificateClaims, CertificateFeedPage, NationalSummary

PAGE_LIMIT = 1000


class SourceClient(Protocol):
    """What the puller needs from a control plane (HTTP in production, see `client.py`)."""

    async def jwks(self) -> dict[str, Any]: ...

    async def summary(self) -> dict[str, Any]: ...

    async def certificates(self, cursor: str, limit: int) -> dict[str, Any]: ...


class SourceError(Exception):
    """The source as a whole cannot be trusted or read (bad summary signature, issuer changed)."""


@dataclass(frozen=True)
class Rejection:
    certificate_id: str
    node_id: str
    code: str
    message: str


@dataclass
class SourceReport:
    """What one pull did for one source."""

    url: str
    issuer: str = ""
    issued: int = 0
    revoked: int = 0
    expired: int = 0
    dropped_unpublished: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    held: int = 0
    summary: NationalSummary | None = None


Progress = Callable[[str, int], None]


def _verified_claims(verifier: JwksVerifier, event: Any, now: datetime) -> dict[str, Any]:
    """The claims of an issued event's token, or VerificationError saying why it cannot be trusted."""
    claims = verifier.verify(event.token or "", now=now, leeway_s=0)
    try:
        CertificateClaims.model_validate(claims)
    except ValidationError as exc:
        raise VerificationError("bad_claims", f"claims do not follow the contract: {exc.error_count()} errors") from exc
    if claims["sub"] != event.node_id or claims["jti"] != event.certificate_id:
        raise VerificationError("mismatch", "token names another node or certificate than its feed event")
    return claims


def _apply_page(state: PullState, url: str, verifier: JwksVerifier, page: CertificateFeedPage, now: datetime, report: SourceReport) -> None:
    for event in page.events:
        if event.kind == "revoked":
            report.revoked += state.revoke(url, event.certificate_id)
            continue
        try:
            claims = _verified_claims(verifier, event, now)
        except VerificationError as error:
            if error.code == "expired":
                report.expired += 1
            else:
                report.rejected.append(Rejection(event.certificate_id, event.node_id, error.code, str(error)))
            continue
        kid = token_kid(event.token or "")
        state.put(StoredCertificate(url, event.certificate_id, event.node_id, kid, claims))
        report.issued += 1


async def _verified_summary(client: SourceClient, verifier: JwksVerifier, pinned: str | None, now: datetime) -> NationalSummary:
    document = await client.summary()
    try:
        claims = verifier.verify(str(document.get("token", "")), now=now)
        summary = NationalSummary.model_validate(claims["summary"])
    except (VerificationError, KeyError, ValidationError) as exc:
        raise SourceError(f"summary cannot be verified: {exc}") from exc
    if claims.get("iss") != summary.issuer:
        raise SourceError("summary token issuer differs from the summary's issuer")
    if pinned is not None and summary.issuer != pinned:
        raise SourceError(f"issuer changed from {pinned!r} to {summary.issuer!r}")
    return summary


async def sync_source(
    state: PullState, url: str, client: SourceClient, now: datetime, progress: Progress | None = None
) -> SourceReport:
    """Bring the state of one source up to date: full on the first pull, incremental after."""
    report = SourceReport(url)
    pinned, cursor = state.source(url)
    verifier = JwksVerifier(await client.jwks())
    report.summary = await _verified_summary(client, verifier, pinned, now)
    report.issuer = report.summary.issuer
    verifier.issuer = report.issuer
    with state.transaction():
        report.dropped_unpublished = state.drop_unpublished_keys(url, verifier.key_ids)
    while True:
        page = CertificateFeedPage.model_validate(await client.certificates(cursor, PAGE_LIMIT))
        with state.transaction():
            _apply_page(state, url, verifier, page, now, report)
            cursor = page.next_cursor
            state.save_source(url, report.issuer, cursor, None, now.timestamp())
        if progress is not None:
            progress(url, report.issued + report.revoked + report.expired + len(report.rejected))
        if not page.has_more:
            break
    state.save_source(url, report.issuer, cursor, report.summary.model_dump(mode="json"), now.timestamp())
    report.held = state.count(url)
    return report
