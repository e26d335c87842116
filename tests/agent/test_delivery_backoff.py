"""Backoff: doubling with jitter up to a cap, Retry-After in seconds or as an HTTP date."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from suanli.agent.backoff import MAX_RETRY_AFTER_S, Backoff, parse_retry_after


def test_delays_double_up_to_the_cap_within_the_jitter_band() -> None:
    now = [0.0]
    backoff = Backoff(base_s=2.0, cap_s=10.0, clock=lambda: now[0], rng=lambda: 1.0)
    assert [backoff.failure() for _ in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    low = Backoff(base_s=2.0, cap_s=10.0, clock=lambda: now[0], rng=lambda: 0.0)
    assert [low.failure() for _ in range(3)] == [1.0, 2.0, 4.0]


def test_ready_after_the_delay_and_reset_on_success() -> None:
    now = [100.0]
    backoff = Backoff(base_s=1.0, clock=lambda: now[0], rng=lambda: 0.0)
    backoff.failure()
    assert not backoff.ready()
    now[0] += 0.5
    assert backoff.ready()
    backoff.failure()
    backoff.success()
    assert backoff.ready() and backoff.failures == 0


def test_retry_after_replaces_the_computed_delay() -> None:
    backoff = Backoff(base_s=1.0, clock=lambda: 0.0, rng=lambda: 0.5)
    assert backoff.failure(retry_after_s=30.0) == pytest.approx(31.5)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("12", 12.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("999999", MAX_RETRY_AFTER_S),
        ("Sat, 21 Nov 2026 08:01:00 GMT", 60.0),
        ("Sat, 21 Nov 2026 07:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 21, 8, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(header, now) == expected
