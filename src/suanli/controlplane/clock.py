"""The window of report timestamps the control plane accepts, and how far an agent's clock is off."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

# No genuine v1 report predates the contract: anything older is a clock reset to 1970 or a forgery.
EARLIEST_SENT_AT = datetime(2025, 1, 1, tzinfo=timezone.utc)
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
