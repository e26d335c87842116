"""The collector interface: each collector fills its part of the inventory and of the usage report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar


# A collector may add this key to a fragment to explain what it skipped while still succeeding
# (a hung mount, an unreadable device); the runner moves it into the collector's status message.
MESSAGE_KEY = "_message"


class NoData(Exception):
    """Raised by a collector that ran fine but has nothing to report here (e.g. no NVML driver)."""


@dataclass(frozen=True)
class CollectContext:
    """Where a collector reads from: real roots on a host, fixture trees in tests."""

    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    etc_root: Path = Path("/etc")
    # Per-collector settings from the agent config (e.g. the location block), keyed by collector name.
    settings: dict[str, Any] = field(default_factory=dict)


class Collector:
    """One source of facts. Subclasses set `name` and override one or both methods.

    Each method returns a dict of top-level fields of `schema.Inventory` / `schema.Usage`
    (for example `{"memory": {...}}`); the runner merges them and validates the result.
    """

    name: ClassVar[str]

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {}

    def usage(self, context: CollectContext) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        """Release what the collector holds (library handles); called once at agent exit."""
