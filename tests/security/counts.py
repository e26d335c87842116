"""Measured counts for SECURITY.md: hostile inputs tried, endpoint × role pairs, faults, reports lost and doubled.

Tests call `record`; the security conftest prints the totals at the end of the run, so the figures
in SECURITY.md come from a run, not from hand counting.
"""

from __future__ import annotations

from collections import Counter

COUNTS: Counter[str] = Counter()
# The order and wording of the summary table in SECURITY.md.
LABELS = {
    "inputs_tried": "hostile inputs tried (each a 4xx with a stable code, database unchanged)",
    "fuzz_cases": "schemathesis cases over /openapi.json (no 5xx, responses match the schema)",
    "property_examples": "hypothesis examples (wire contract and certification checks)",
    "endpoint_role_pairs": "endpoint × role pairs checked",
    "rate_limit_refusals": "requests refused with 429 + Retry-After",
    "faults_injected": "faults injected (SIGKILL, PostgreSQL restart, full disk, skewed clocks)",
    "reports_sent": "reports sent through faults",
    "reports_lost": "reports lost (must be 0)",
    "reports_doubled": "reports stored twice (must be 0)",
    "secrets_checked": "secrets searched for in databases, logs and files (must not be found)",
}


def record(name: str, amount: int = 1) -> None:
    """Add to a named count; unknown names are a test bug, so they fail loudly."""
    if name not in LABELS:
        raise KeyError(f"unknown security count {name!r}")
    COUNTS[name] += amount


def summary_lines() -> list[str]:
    return [f"{COUNTS.get(name, 0):>8}  {label}" for name, label in LABELS.items()]
