"""The window of report timestamps the control plane accepts, and how far an agent's clock is off."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# No genuine v1 report predates the contract: anything older is a clock reset to 1970 or a forgery.
EARLIEST_SENT_AT = datetime(2025, 1, 1, tzinfo=timezone.utc)
# An agent clock off by more than this is flagged on the node and its usage reports dated ahead
# of the server by more do not count towards availability (freshness is judged on server time).
MAX_CLOCK_SKEW = timedelta(minutes=5)
# A report dated more than a day ahead cannot be placed in time; between the skew bound and this
# the report is kept (its measurements are real) and the node is flagged for clock skew instead.
MAX_FUTURE = timedelta(hours=24)


def sent_at_problem(sent_at: datetime, now: datetime) -> str | None:
    """Why `sent_at` is outside the accepted window, or None when it is inside."""
    if sent_at < EARLIEST_SENT_AT:
        return f"before {EARLIEST_SENT_AT.isoformat()}"
    if sent_at > now + MAX_FUTURE:
        return f"more than {MAX_FUTURE.total_seconds():.0f} s after the server's time {now.isoformat()}"
    return None


def estimated_skew_s(usage_sent_at: datetime | None, last_seen_at: datetime | None) -> float | None:
    """Agent clock minus server clock, from the newest usage report's time and when it arrived.

    Positive: the agent's clock is ahead. Agents send each usage report within seconds of measuring
    it, so a live node's estimate is its clock error plus a small delivery delay (right after an
    outage, while a backlog drains, it briefly reads as behind).
    """
    if usage_sent_at is None or last_seen_at is None:
        return None
    return round((usage_sent_at - last_seen_at).total_seconds(), 3)


def skew_flagged(skew_s: float | None) -> bool:
    return skew_s is not None and abs(skew_s) > MAX_CLOCK_SKEW.total_seconds()
