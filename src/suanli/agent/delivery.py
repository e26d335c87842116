"""Delivery: send spooled reports oldest first, delete only what the control plane acknowledged.

Answers and what they do to the spool:
- 200 `BatchAck`: the accepted and duplicate seqs are deleted, anything else stays for the next try.
- 408, 429, 5xx, connection errors, timeouts: nothing deleted; back off (Retry-After honoured).
- 400 / 422: the batch itself is malformed. The report the error detail points at is set aside
  (counted, kept in the spool's `rejected` table); without an index the batch is halved until
  the bad report travels alone, so one bad report never wedges the spool.
- 413: the batch is too large for the server: halve it; a single report too large is set aside.
- 401, 403, 404 and other 4xx say nothing about the reports (revoked credential, wrong URL):
  keep everything and back off, so an operator mistake never deletes measurements.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import ValidationError

from suanli.agent.backoff import Backoff, parse_retry_after
from suanli.agent.logs import log_event
from suanli.agent.spool import Spool, SpooledReport
from suanli.agent.transport import HttpClient, TransportError
from suanli.schema import BatchAck

MAX_BATCH_BYTES = 512 * 1024  # well under aiohttp's default 1 MiB request limit on the server
_RETRYABLE_STATUS = {408, 429}
_MALFORMED_STATUS = {400, 422}


class Outcome(str, Enum):
    IDLE = "idle"  # nothing to send
    WAITING = "waiting"  # backing off
    DELIVERED = "delivered"  # the spool is drained
    PROGRESS = "progress"  # something was acknowledged or set aside; more to send
    FAILED = "failed"  # this attempt failed; backing off


@dataclass
class DeliveryState:
    """What `suanli-agent status` shows about delivery."""

    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    acked_total: int = 0
    set_aside_total: int = 0


def envelope_json(node_id: str, report: SpooledReport) -> str:
    """The v1 envelope around a spooled body, built as text so the body is not parsed again."""
    return (
        f'{{"schema":"v1","node_id":{json.dumps(node_id)},"seq":{report.seq},'
        f'"sent_at":{json.dumps(report.measured_at)},"kind":{json.dumps(report.kind)},"body":{report.body}}}'
    )


def batch_json(node_id: str, reports: Sequence[SpooledReport]) -> bytes:
    """A `ReportBatch` document for `POST /v1/reports`."""
    return ('{"reports":[' + ",".join(envelope_json(node_id, r) for r in reports) + "]}").encode()


def failing_index(detail: Any, batch_size: int) -> int | None:
    """The index of the bad report named in an error detail (`index`, or a `loc` like reports.3.body)."""
    if isinstance(detail, dict):
        index = detail.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < batch_size:
            return index
        for key in ("loc", "path"):
            found = _index_in_path(detail.get(key), batch_size)
            if found is not None:
                return found
        values: Any = detail.values()
    elif isinstance(detail, list):
        values = detail
    else:
        return None
    for value in values:
        found = failing_index(value, batch_size) if isinstance(value, (dict, list)) else None
        if found is not None:
            return found
    return None


def _index_in_path(path: Any, batch_size: int) -> int | None:
    if isinstance(path, str):
        path = path.replace("[", ".").replace("]", "").split(".")
    if not isinstance(path, list):
        return None
    for position, part in enumerate(path[:-1]):
        if part == "reports":
            candidate = path[position + 1]
            if isinstance(candidate, str) and candidate.isdigit():
                candidate = int(candidate)
            if isinstance(candidate, int) and 0 <= candidate < batch_size:
                return candidate
    return None


class Delivery:
    """Moves reports from the spool to the control plane; one instance per running agent."""

    def __init__(
        self,
        spool: Spool,
        client: HttpClient,
        node_id: str,
        credential: str,
        batch_max_reports: int = 200,
        backoff: Backoff | None = None,
    ) -> None:
        self.spool = spool
        self.client = client
        self.node_id = node_id
        self.credential = credential
        self.batch_max_reports = batch_max_reports
        self.backoff = backoff or Backoff()
        self.state = DeliveryState()
        self._batch_limit = batch_max_reports

    @property
    def server_url(self) -> str:
        return self.client.server_url

    async def drain(self, ignore_backoff: bool = False) -> Outcome:
        """Send batches until the spool is empty or an attempt fails."""
        if not ignore_backoff and not self.backoff.ready():
            return Outcome.WAITING
        outcome = Outcome.IDLE
        while True:
            batch = self.spool.pending(self._batch_limit, MAX_BATCH_BYTES)
            if not batch:
                return Outcome.DELIVERED if outcome is Outcome.PROGRESS else outcome
            outcome = await self.send(batch)
            if outcome is Outcome.FAILED:
                return outcome

    async def send(self, batch: Sequence[SpooledReport]) -> Outcome:
        """POST one batch and apply the answer to the spool."""
        headers = {"Authorization": f"Bearer {self.credential}"}
        try:
            response = await self.client.post("/v1/reports", batch_json(self.node_id, batch), headers)
        except TransportError as exc:
            return self._fail(f"{type(exc).__name__}: {exc}", None)
        return self._answer(batch, response.status, response.text, response.retry_after)

    def _answer(self, batch: Sequence[SpooledReport], status: int, text: str, retry_after: str | None) -> Outcome:
        if status == 200:
            return self._acknowledged(batch, text)
        if status in _RETRYABLE_STATUS or status >= 500:
            return self._fail(f"HTTP {status}", parse_retry_after(retry_after))
        if status in _MALFORMED_STATUS:
            return self._malformed(batch, status, text)
        if status == 413:
            return self._too_large(batch)
        return self._fail(f"HTTP {status}: {_error_code(text)}", parse_retry_after(retry_after))

    def _acknowledged(self, batch: Sequence[SpooledReport], text: str) -> Outcome:
        try:
            ack = BatchAck.model_validate_json(text)
        except ValidationError as exc:
            return self._fail(f"unreadable acknowledgement: {exc.error_count()} errors", None)
        sent = {report.seq for report in batch}
        acked = sent.intersection(ack.accepted).union(sent.intersection(ack.duplicates))
        if not acked:
            return self._fail("acknowledgement names none of the batch's seqs", None)
        self.spool.ack(sorted(acked))
        if self.backoff.failures:
            log_event("delivery.resumed", after_failures=self.backoff.failures, depth=self.spool.depth())
        self.backoff.success()
        self.state.last_success_at = time.time()
        self.state.acked_total += len(acked)
        self._batch_limit = min(self.batch_max_reports, self._batch_limit * 2)
        log_event(
            "delivery.ok", 10, acked=len(acked), duplicates=len(sent.intersection(ack.duplicates)),
            first_seq=batch[0].seq, last_seq=batch[-1].seq,
        )
        return Outcome.PROGRESS

    def _malformed(self, batch: Sequence[SpooledReport], status: int, text: str) -> Outcome:
        detail = _error_detail(text)
        index = failing_index(detail, len(batch))
        if index is None and len(batch) > 1:
            self._batch_limit = max(1, len(batch) // 2)  # bisect until the bad report travels alone
            log_event("delivery.malformed_batch", 30, status=status, size=len(batch), next_size=self._batch_limit)
            return Outcome.PROGRESS
        bad = batch[index or 0]
        self._set_aside([bad.seq], f"HTTP {status}: {_error_code(text)}: {json.dumps(detail)[:1500]}")
        return Outcome.PROGRESS

    def _too_large(self, batch: Sequence[SpooledReport]) -> Outcome:
        if len(batch) > 1:
            self._batch_limit = max(1, len(batch) // 2)
            log_event("delivery.too_large", 30, size=len(batch), next_size=self._batch_limit)
            return Outcome.PROGRESS
        self._set_aside([batch[0].seq], "HTTP 413: a single report is larger than the server accepts")
        return Outcome.PROGRESS

    def _set_aside(self, seqs: list[int], reason: str) -> None:
        removed = self.spool.set_aside(seqs, reason)
        self.state.set_aside_total += removed
        log_event("delivery.rejected", 40, seqs=",".join(map(str, seqs)), reason=reason[:300])

    def _fail(self, error: str, retry_after_s: float | None) -> Outcome:
        delay_s = self.backoff.failure(retry_after_s)
        self.state.last_error, self.state.last_error_at = error, time.time()
        log_event(
            "delivery.failed", 30, error=error, retry_in_s=round(delay_s, 2),
            failures=self.backoff.failures, depth=self.spool.depth(),
        )
        return Outcome.FAILED


def _error_detail(text: str) -> Any:
    try:
        return json.loads(text)["error"].get("detail")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _error_code(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return text[:120]
