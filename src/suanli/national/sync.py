"""Pull one control plane: verify its summary and every certificate event against its JWKS, apply them to state.

Each feed page carries a page token (see `controlplane/certification/feed_signing.py`): one Ed25519
signature by a key of the source's JWKS over the requested cursor, the next cursor, every event in
order (ids, kind, node, revocation reason) and the SHA-256 of every token. The puller verifies it
once per page and then checks each token's bytes against its signed digest, so a page costs one
signature verification instead of one per certificate, and revocations and page order are
authenticated too, which per-token signatures cannot do. A page whose statement does not verify or
does not describe the page fails the source (what was committed before stays). Every token is still
checked on its own (header, kid, issuer, expiry, claims, agreement with its event; see `verify.py`).
Pages without a page token (older servers) fall back to verifying each token's signature; once a
source has sent a signed page, an unsigned one is refused, so a signature cannot be stripped to
slip in unauthenticated revocations. `verify_each_token` verifies every token's own signature too.

The summary is requested together with the first feed page, not before it (a control plane builds it
on the first request after a start). Until it arrives, pages are checked against the pinned issuer,
or on a first pull against the issuer named by the first page's statement once a JWKS key's
signature on it verifies; they may be stored, but no transaction commits before the summary has
verified against the same JWKS and named that issuer. If it does not, the source fails with the
summary's error and nothing of this pull stays.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import multiprocessing
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from suanli.controlplane.certification.feed_signing import PageSignatureError, verified_page_digests
from suanli.controlplane.signing import JwksVerifier, VerificationError
from suanli.national.state import PullState, Record
from suanli.national.verify import Refusal, check_page, issued_of
from suanli.schema.national import NationalSummary

PAGE_LIMIT = 1000
PAGES_PER_COMMIT = 10


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


Checked = Record | Refusal | None  # per event: what `verify.check_page` made of it (None: a revocation)


def _apply_page(state: PullState, url: str, events: list[dict[str, Any]], checked: list[Checked], report: SourceReport) -> None:
    """Apply a verified page in feed order: each run of issuances, then each run of revocations, in bulk."""
    batch: list[tuple[str, str, Record]] = []
    revoked: list[str] = []
    for event, check in zip(events, checked):
        if check is None:  # a revocation: the issuances before it must be stored first
            state.put_many(url, batch)
            batch = []
            revoked.append(event["certificate_id"])
            continue
        if revoked:  # and an issuance after revocations must not be undone by them
            report.revoked += state.revoke_many(url, revoked)
            revoked = []
        if not isinstance(check, Refusal):
            batch.append((event["certificate_id"], event["node_id"], check))
            report.issued += 1
        elif check.code == "expired":
            report.expired += 1
        else:
            report.rejected.append(Rejection(event["certificate_id"], event["node_id"], check.code, check.message))
    state.put_many(url, batch)
    report.revoked += state.revoke_many(url, revoked)


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


def _page_issuer(verifier: JwksVerifier, page: Any) -> str | None:
    """The issuer a page's statement names, when a key of the source's JWKS signed it (None otherwise).

    Only provisional: pages are checked against it until the summary arrives, and nothing is committed
    before the summary, verified with the same JWKS, names the same issuer.
    """
    token = page.get("page_token") if isinstance(page, dict) else None
    try:
        issuer = verifier.verify(token)["iss"] if isinstance(token, str) else None
    except (VerificationError, KeyError):
        return None
    return issuer if isinstance(issuer, str) else None


def _confirmation(summary: asyncio.Future[NationalSummary], report: SourceReport) -> Callable[[], Awaitable[None]]:
    """What the feed awaits before each commit: the verified summary, naming the issuer the pages were checked for."""
    async def confirm() -> None:
        report.summary = await summary
        if report.summary.issuer != report.issuer:
            raise SourceError(f"feed pages are signed for issuer {report.issuer!r}, the summary names {report.summary.issuer!r}")
    return confirm


async def _raise_summary_error(summary: asyncio.Future[NationalSummary]) -> None:
    """Raise the summary's SourceError, if its verification failed (waits for it); else return."""
    if summary.done() and summary.cancelled():
        return
    try:
        await summary
    except SourceError:
        raise
    except Exception:  # noqa: BLE001 - a transport error of the summary: the feed's error is the one to report
        return


def default_workers(cpus: int | None = None) -> int:
    """Verification processes for a pull: the cores beyond the two kept busy by the event loop (fetch,
    JSON, page signatures) and the store thread (SQLite); 0, checking inline, on fewer than 4 cores.

    A token costs ~35 µs checked inline but ~45 µs in a worker, pickling both ways included, and on
    2 cores shared with the control plane a worker only competes with the loop and the store: on the
    bench machine a 100 000-certificate sync used ~1.4 s less CPU inline than with 2 workers, ran
    0.6-3 s faster while other work loaded the machine and as fast when it was quiet
    (bench/RESULTS.md, national, round 4).
    """
    spare = (cpus if cpus is not None else os.cpu_count() or 1) - 2
    return spare if spare >= 2 else 0


class _Checker:
    """Verifies pages inline, or in a process pool once a pull turns out to span several pages."""

    def __init__(self, jwks: dict[str, Any], issuer: str, now: datetime, workers: int, verify_each_token: bool) -> None:
        self.args = (jwks, issuer, now.timestamp(), verify_each_token)
        self.workers = workers
        self.pool: ProcessPoolExecutor | None = None

    def start_pool(self) -> None:
        if self.pool is None and self.workers > 1:
            # fork: workers start with everything imported already (a fresh interpreter per worker costs
            # seconds on a busy machine); they run only check_page, no locks or event loop of ours.
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))

    async def check(self, page_events: list[dict[str, Any]], digests: list[str | None] | None) -> list[Checked]:
        events = issued_of(page_events)
        if self.pool is None or len(events) < 2 * self.workers:
            return check_page(*self.args, events, digests)
        loop = asyncio.get_running_loop()
        size = -(-len(events) // self.workers)
        done = await asyncio.gather(*(
            loop.run_in_executor(self.pool, check_page, *self.args, events[i : i + size],
                                 digests[i : i + size] if digests is not None else None)
            for i in range(0, len(events), size)
        ))
        return [item for part in done for item in part]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


_EVENT_KINDS = ("issued", "revoked")


def _check_page_shape(page: Any) -> None:
    """The fields of a feed page the puller reads, with their types; SourceError otherwise.

    A cheap check instead of validating every event's model: what an issued event carries is trusted
    only through its signed token, which is verified and validated on its own.
    """
    if not (isinstance(page, dict) and isinstance(page.get("events"), list)
            and isinstance(page.get("next_cursor"), str) and isinstance(page.get("has_more"), bool)):
        raise SourceError("certificate feed page does not follow the contract")
    for event in page["events"]:
        if not (isinstance(event, dict) and event.get("kind") in _EVENT_KINDS
                and isinstance(event.get("certificate_id"), str) and isinstance(event.get("node_id"), str)
                and isinstance(event.get("token"), (str, type(None)))):
            raise SourceError(f"certificate feed event does not follow the contract: {str(event)[:200]}")


@dataclass
class _Feed:
    """One source's feed as this pull reads it: the client, its keys and issuer, and whether pages are signed."""

    client: SourceClient
    verifier: JwksVerifier
    issuer: str
    checker: _Checker
    signs_pages: bool  # pinned: once a source signed a page, an unsigned page is refused

    async def fetch(self, cursor: str) -> tuple[dict[str, Any], list[str | None] | None]:
        """The page after `cursor` and the token digests its verified page signature binds (None: unsigned)."""
        return self.verify(cursor, await self.client.certificates(cursor, PAGE_LIMIT))

    def verify(self, cursor: str, page: Any) -> tuple[dict[str, Any], list[str | None] | None]:
        """The page as served after `cursor`, checked: its shape and, when signed, its page signature."""
        _check_page_shape(page)
        if page.get("page_token") is None and not self.signs_pages:
            return page, None
        try:
            digests = verified_page_digests(self.verifier, self.issuer, cursor, page)
        except PageSignatureError as exc:
            raise SourceError(f"feed page after cursor {cursor!r} rejected: {exc}") from exc
        self.signs_pages = True
        return page, digests

    async def fetch_checked(self, cursor: str) -> tuple[dict[str, Any], list[Checked]]:
        page, digests = await self.fetch(cursor)
        return page, await self.checker.check(page["events"], digests)


def _store_page(state: PullState, url: str, page: dict[str, Any], checked: list[Checked], report: SourceReport,
                signs_pages: bool, commit: bool) -> None:
    """Apply one verified page and its cursor; with `commit`, end the transaction and start the next."""
    _apply_page(state, url, page["events"], checked, report)
    state.save_source(url, report.issuer, page["next_cursor"], None, time.time(), signs_pages)
    if commit:
        state.commit()
        state.begin()


async def _sync_feed(state: PullState, url: str, feed: _Feed, cursor: str, first_page: Any, report: SourceReport,
                     progress: Progress | None, confirm: Callable[[], Awaitable[None]]) -> str:
    """Page through the feed from `first_page`; the next page downloads and is verified while this one is stored.

    The store runs in a thread (SQLite releases the GIL), so the event loop keeps reading and
    parsing the next page meanwhile rather than leaving it in the socket buffers. Each page is
    stored with its cursor; a transaction spans PAGES_PER_COMMIT pages, since a commit writes every
    index page the random hardware hashes touched. `confirm` is awaited before every commit (the
    source's summary and issuer; see `sync_source`). A failure keeps what was committed.
    """
    page, digests = feed.verify(cursor, first_page)
    if page["has_more"]:
        feed.checker.start_pool()
    current = await feed.checker.check(page["events"], digests)
    following: asyncio.Future[tuple[dict[str, Any], list[Checked]]] | None = None
    storing: asyncio.Future[None] | None = None
    state.begin()
    try:
        report.dropped_unpublished = state.drop_unpublished_keys(url, feed.verifier.key_ids)
        state.prepare_hash_index(url)  # only with another source held (see state.py)
        for pages in itertools.count(1):
            following = asyncio.ensure_future(feed.fetch_checked(page["next_cursor"])) if page["has_more"] else None
            commit = following is not None and pages % PAGES_PER_COMMIT == 0
            if commit:
                await confirm()
            storing = asyncio.ensure_future(asyncio.to_thread(
                _store_page, state, url, page, current, report, feed.signs_pages, commit))
            await storing
            cursor = page["next_cursor"]
            if progress is not None:
                progress(url, report.issued + report.revoked + report.expired + len(report.rejected))
            if following is None:
                break
            page, current = await following
        await confirm()
    except BaseException:
        if following is not None:
            following.cancel()
        if storing is not None and not storing.done():
            await asyncio.wait([storing])  # the connection is the store thread's until it returns
        state.rollback()
        raise
    state.commit()
    return cursor


GIL_SWITCH_INTERVAL_S = 0.001


@contextmanager
def _interpreter_set_for_sync() -> Iterator[None]:
    """The cycle collector off and a shorter GIL switch interval for the block; both as they were after.

    A sync allocates millions of short-lived objects (parsed pages, claims, rows) and none of them
    form cycles, so reference counting frees them all; the collector would only walk them, hundreds
    of times per 100 000 certificates, in the event loop's thread, the store thread and the
    verification workers (forked inside the block, so they run without it too).

    The store thread gives up the GIL for every row SQLite steps through and must get it back from
    the event loop's thread, which checks tokens in Python meanwhile: with the default 5 ms switch
    interval the store waited ~1-2 s per 100 000 certificates for the GIL rather than writing.
    """
    enabled, interval_s = gc.isenabled(), sys.getswitchinterval()
    gc.disable()
    sys.setswitchinterval(min(interval_s, GIL_SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(interval_s)
        if enabled:
            gc.enable()


async def sync_source(
    state: PullState, url: str, client: SourceClient, now: datetime, progress: Progress | None = None,
    workers: int | None = None, verify_each_token: bool = False,
) -> SourceReport:
    """Bring the state of one source up to date: full on the first pull, incremental after.

    `workers`: verification processes (`default_workers()` when None; 0 or 1 checks inline).
    `verify_each_token` verifies every certificate's own signature even on signed pages.
    """
    with _interpreter_set_for_sync():
        return await _sync_source(state, url, client, now, progress, workers, verify_each_token)


async def _sync_source(
    state: PullState, url: str, client: SourceClient, now: datetime, progress: Progress | None, workers: int | None,
    verify_each_token: bool,
) -> SourceReport:
    report = SourceReport(url)
    pinned, cursor, signs_pages = state.source(url)
    jwks = await client.jwks()
    verifier = JwksVerifier(jwks)
    # The summary is verified before anything is committed, not before the feed is read: a control plane
    # builds it on its first request after a start, and the first pages download meanwhile.
    summary = asyncio.ensure_future(_verified_summary(client, verifier, pinned, now))
    checker: _Checker | None = None
    try:
        first_page = await client.certificates(cursor, PAGE_LIMIT)
        report.issuer = pinned or _page_issuer(verifier, first_page) or (await summary).issuer
        checker = _Checker(jwks, report.issuer, now, workers if workers is not None else default_workers(), verify_each_token)
        feed = _Feed(client, verifier, report.issuer, checker, signs_pages)
        cursor = await _sync_feed(state, url, feed, cursor, first_page, report, progress, _confirmation(summary, report))
    except SourceError:
        await _raise_summary_error(summary)  # a summary that fails explains the rest
        raise
    finally:
        if not summary.done():
            summary.cancel()
        elif not summary.cancelled():
            summary.exception()  # retrieved: its failure, if any, was raised above or superseded
        if checker is not None:
            checker.close()
    report.summary = summary.result()  # confirmed before the feed's last commit
    state.save_source(url, report.issuer, cursor, report.summary.model_dump(mode="json"), now.timestamp(),
                      feed.signs_pages)
    report.held = state.count(url)
    return report
