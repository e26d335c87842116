"""Exponential backoff with jitter for delivery, honouring a server's Retry-After."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER_S = 3600.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Backoff:
    """When the next delivery attempt may start, after consecutive failures.

    Delays double from `base_s` up to `cap_s`, each scaled by a random factor in [0.5, 1) so agents
    that failed together (control plane restart) do not come back together. A Retry-After from the
    server replaces the computed delay (plus up to 10 % jitter): the server knows its load best.
    """

    def __init__(
        self,
        base_s: float = 1.0,
        cap_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._clock = clock
        self._rng = rng
        self._next_attempt = 0.0

    def failure(self, retry_after_s: float | None = None) -> float:
        """Record a failed attempt; return the delay before the next one."""
        self.failures += 1
        if retry_after_s is not None:
            delay = retry_after_s * (1.0 + 0.1 * self._rng())
        else:
            ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures - 1, 32))
            delay = ceiling * (0.5 + 0.5 * self._rng())
        self._next_attempt = self._clock() + delay
        return delay

    def success(self) -> None:
        self.failures = 0
        self._next_attempt = 0.0

    def ready(self) -> bool:
        return self._clock() >= self._next_attempt

    def remaining_s(self) -> float:
        return max(0.0, self._next_attempt - self._clock())
