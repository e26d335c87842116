"""Certificates, their change feed and per-node verdicts in the database; one transaction per method.

Feed stability: on PostgreSQL, ids from a sequence are handed out at insert time but become
visible at commit, so a reader could see event 11 before event 10 commits and skip it for good.
Every write of events therefore first takes one transaction-scoped advisory lock: ids are then
allocated in commit order, and a reader that sees event N also sees every event below N. SQLite
has one writer at a time, which gives the same order.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from suanli.controlplane.certification.certificates import CurrentCertificate
from suanli.controlplane.certification.tables import certificate_events, certificates, certification_status
from suanli.schema.national import CertificateEvent, CertificateFeedPage

_PG_EVENT_LOCK_ID = 0x5A4E4345  # "ZNCE": serializes certificate event writers
MAX_FEED_LIMIT = 5000


class InvalidCursor(ValueError):
    """A feed cursor this server did not issue."""


@dataclass(frozen=True)
class NewCertificate:
    certificate_id: str
    node_id: str
    kid: str
    province: str
    datacenter: str
    rack: str
    fingerprint: str
    capacity_json: str
    token: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Revocation:
    certificate_id: str
    node_id: str
    reason: str


@dataclass(frozen=True)
class VerdictRow:
    node_id: str
    certified: bool
    failures: dict[str, str]
    excluded_accelerators: tuple[int, ...]


async def lock_feed(connection: AsyncConnection) -> None:
    """Serialize event writers until this transaction ends (see the module docstring)."""
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_EVENT_LOCK_ID})


async def current_certificates(connection: AsyncConnection, now: datetime) -> dict[str, CurrentCertificate]:
    """Node id → its unrevoked, unexpired certificate."""
    query = select(certificates.c.id, certificates.c.node_id, certificates.c.fingerprint, certificates.c.expires_at).where(
        certificates.c.revoked_at.is_(None), certificates.c.expires_at > now
    )
    return {
        row.node_id: CurrentCertificate(row.id, row.fingerprint, row.expires_at)
        for row in await connection.execute(query)
    }


async def _revoke(connection: AsyncConnection, revocations: Sequence[Revocation], now: datetime) -> None:
    for revocation in revocations:
        result = await connection.execute(
            certificates.update()
            .where(certificates.c.id == revocation.certificate_id, certificates.c.revoked_at.is_(None))
            .values(revoked_at=now, revoke_reason=revocation.reason)
        )
        if result.rowcount:
            await connection.execute(certificate_events.insert().values(
                kind="revoked", certificate_id=revocation.certificate_id, node_id=revocation.node_id,
                at=now, reason=revocation.reason,
            ))


async def _issue(connection: AsyncConnection, issued: Sequence[NewCertificate]) -> None:
    if not issued:
        return
    await connection.execute(certificates.insert(), [
        {"id": c.certificate_id, "node_id": c.node_id, "kid": c.kid, "province": c.province,
         "datacenter": c.datacenter, "rack": c.rack, "fingerprint": c.fingerprint, "capacity": c.capacity_json,
         "token": c.token, "issued_at": c.issued_at, "expires_at": c.expires_at}
        for c in issued
    ])
    await connection.execute(certificate_events.insert(), [
        {"kind": "issued", "certificate_id": c.certificate_id, "node_id": c.node_id, "at": c.issued_at}
        for c in issued
    ])


async def _save_verdicts(connection: AsyncConnection, verdicts: Sequence[VerdictRow], now: datetime) -> None:
    if not verdicts:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(certification_status)
    upsert = insert.on_conflict_do_update(
        index_elements=[certification_status.c.node_id],
        set_={c: insert.excluded[c] for c in ("certified", "failures", "excluded_accelerators", "evaluated_at")},
    )
    await connection.execute(upsert, [
        {"node_id": v.node_id, "certified": v.certified, "failures": json.dumps(v.failures),
         "excluded_accelerators": json.dumps(list(v.excluded_accelerators)), "evaluated_at": now}
        for v in verdicts
    ])


async def apply_changes(
    engine: AsyncEngine,
    issued: Sequence[NewCertificate],
    revoked: Sequence[Revocation],
    verdicts: Sequence[VerdictRow],
    now: datetime,
) -> None:
    """Revoke, then issue, then record verdicts, in one transaction holding the feed lock."""
    async with engine.begin() as connection:
        await lock_feed(connection)
        await _revoke(connection, revoked, now)
        await _issue(connection, issued)
        await _save_verdicts(connection, verdicts, now)


async def revoke_node(engine: AsyncEngine, node_id: str, reason: str, now: datetime) -> int:
    """Revoke every live certificate of a node (an operator revoked or quarantined it); returns how many."""
    async with engine.begin() as connection:
        await lock_feed(connection)
        rows = await connection.execute(
            select(certificates.c.id).where(certificates.c.node_id == node_id, certificates.c.revoked_at.is_(None))
        )
        revocations = [Revocation(row.id, node_id, reason) for row in rows]
        await _revoke(connection, revocations, now)
    return len(revocations)


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"ev1:{event_id}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> int:
    """The last event id a cursor stands for (0 for none); InvalidCursor for anything else."""
    if not cursor:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        event_id = int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if prefix != "ev1" or event_id < 0:
        raise InvalidCursor(cursor)
    return event_id


class FeedRow(NamedTuple):
    """One event of the feed as stored: `at` as ISO 8601 text in UTC, the token only for issued events."""

    event_id: int
    kind: str
    certificate_id: str
    node_id: str
    at: str
    reason: str | None
    token: str | None


# Plain SQL read without per-column result processing: the feed's hot path serves 1 000 rows a page.
_FEED_QUERY = text(
    "SELECT e.id, e.kind, e.certificate_id, e.node_id, e.at, e.reason, c.token FROM certificate_events e "
    "LEFT OUTER JOIN certificates c ON c.id = e.certificate_id WHERE e.id > :after ORDER BY e.id LIMIT :rows"
)


def _iso_utc(value: datetime | str) -> str:
    """A stored event time as ISO 8601 UTC: PostgreSQL gives an aware datetime, SQLite the naive UTC text
    SQLAlchemy wrote ('2026-11-22 02:13:39.123456')."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value.replace(" ", "T", 1) + "+00:00"


async def feed_rows(engine: AsyncEngine, after: int, limit: int) -> list[FeedRow]:
    """Up to limit + 1 events after event id `after` in id order (= commit order); the extra row only
    says whether more follow."""
    rows_wanted = max(1, min(limit, MAX_FEED_LIMIT)) + 1
    async with engine.connect() as connection:
        rows = (await connection.execute(_FEED_QUERY, {"after": after, "rows": rows_wanted})).all()
    return [
        FeedRow(event_id, kind, certificate_id, node_id, _iso_utc(at), reason, token if kind == "issued" else None)
        for event_id, kind, certificate_id, node_id, at, reason, token in rows
    ]


async def feed_page(engine: AsyncEngine, cursor: str | None, limit: int) -> CertificateFeedPage:
    """Events after the cursor in id order (= commit order); issued events carry the certificate's token."""
    after = decode_cursor(cursor)
    limit = max(1, min(limit, MAX_FEED_LIMIT))
    rows = await feed_rows(engine, after, limit)
    # Rows come from this server's own tables: built without re-validation.
    events = [
        CertificateEvent.model_construct(
            event_id=row.event_id, kind=row.kind, certificate_id=row.certificate_id, node_id=row.node_id,
            at=datetime.fromisoformat(row.at), token=row.token, reason=row.reason,
        )
        for row in rows[:limit]
    ]
    last = events[-1].event_id if events else after
    return CertificateFeedPage.model_construct(events=events, next_cursor=encode_cursor(last), has_more=len(rows) > limit)


async def live_certificates(engine: AsyncEngine, now: datetime) -> list[tuple[str, str, str, str]]:
    """(province, datacenter, rack, capacity JSON) of every unrevoked, unexpired certificate."""
    query = select(certificates.c.province, certificates.c.datacenter, certificates.c.rack, certificates.c.capacity).where(
        certificates.c.revoked_at.is_(None), certificates.c.expires_at > now
    )
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]
