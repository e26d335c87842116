"""Counters and latencies of one simulator phase (enroll, usage), reported as rates and percentiles."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[rank]


@dataclass
class PhaseStats:
    name: str
    started_s: float = field(default_factory=time.perf_counter)
    finished_s: float | None = None
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    reports_sent: int = 0
    reports_accepted: int = 0
    reports_duplicate: int = 0
    retries: int = 0
    transport_errors: int = 0
    failures: int = 0  # gave up after retries, or an answer the contract does not allow
    latencies_ms: list[float] = field(default_factory=list)
    # How late sends started against their schedule: grows when the server (or this process) cannot keep up.
    max_lag_s: float = 0.0

    def observe(self, status: int, latency_ms: float) -> None:
        self.requests += 1
        self.statuses[status] += 1
        self.latencies_ms.append(latency_ms)

    def finish(self) -> None:
        self.finished_s = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        end = self.finished_s if self.finished_s is not None else time.perf_counter()
        return max(end - self.started_s, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "requests": self.requests,
            "requests_per_s": round(self.requests / self.elapsed_s, 1),
            "reports_sent": self.reports_sent,
            "reports_accepted": self.reports_accepted,
            "reports_duplicate": self.reports_duplicate,
            "reports_per_s": round(self.reports_accepted / self.elapsed_s, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "retries": self.retries,
            "transport_errors": self.transport_errors,
            "failures": self.failures,
            "latency_p50_ms": rounded(percentile(self.latencies_ms, 0.50)),
            "latency_p99_ms": rounded(percentile(self.latencies_ms, 0.99)),
            "max_lag_s": round(self.max_lag_s, 3),
        }


@dataclass
class MalformedStats:
    """Deliberately broken reports: how each was answered, and answers that break the contract."""

    sent: int = 0
    by_kind: Counter = field(default_factory=Counter)  # (malformation, status, error code)
    contract_violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "rejected_4xx": sum(n for (_, status, _), n in self.by_kind.items() if 400 <= status < 500),
            "answers": [{"malformation": how, "status": status, "code": code, "count": n}
                        for (how, status, code), n in sorted(self.by_kind.items())],
            "contract_violations": len(self.contract_violations),
            "violation_examples": self.contract_violations[:10],
        }
