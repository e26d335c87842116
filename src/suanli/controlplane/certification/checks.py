"""The named certification checks: pure functions from a node's facts to pass, or fail with a reason."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from suanli.controlplane.certification.identities import IdentityConflict
from suanli.schema import Inventory, Usage
from suanli.schema.inventory import AcceleratorVendor

USAGE_INTERVAL_S = 30.0
HEARD_WITHIN_INTERVALS = 3
AVAILABILITY_WINDOW_S = 24 * 3600.0
AVAILABILITY_MIN_SHARE = 0.95


@dataclass(frozen=True)
class CertificationPolicy:
    """The thresholds the checks apply; a control plane sets them from its configuration."""

    usage_interval_s: float = USAGE_INTERVAL_S
    heard_within_intervals: int = HEARD_WITHIN_INTERVALS
    availability_window_s: float = AVAILABILITY_WINDOW_S
    availability_min_share: float = AVAILABILITY_MIN_SHARE


class AcceleratorCatalog(Protocol):
    """What the accelerator check needs of `suanli.catalog`, injectable so checks stay pure."""

    def match(self, vendor: str, model_name: str, memory_total_bytes: int | None) -> Any | None: ...

    def memory_consistent(self, spec: Any, memory_total_bytes: int) -> bool: ...


class DefaultCatalog:
    """`suanli.catalog` behind the AcceleratorCatalog protocol."""

    def match(self, vendor: str, model_name: str, memory_total_bytes: int | None) -> Any | None:
        from suanli.catalog import match_accelerator

        return match_accelerator(vendor, model_name, memory_total_bytes=memory_total_bytes)

    def memory_consistent(self, spec: Any, memory_total_bytes: int) -> bool:
        from suanli.catalog import memory_consistent

        return memory_consistent(spec, memory_total_bytes)


@dataclass(frozen=True, slots=True)
class CheckedAccelerator:
    """What the checks read of one accelerator (the pydantic model holds a dozen more fields)."""

    index: int
    vendor: AcceleratorVendor
    model: str | None
    memory_total_bytes: int | None
    uuid: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class CheckedLocation:
    datacenter: str | None
    rack: str | None


@dataclass(frozen=True, slots=True)
class CheckedInventory:
    """The part of an inventory the checks read: the agent's location and its accelerators."""

    location: CheckedLocation
    accelerators: tuple[CheckedAccelerator, ...]

    @classmethod
    def of(cls, inventory: Inventory) -> CheckedInventory:
        location = CheckedLocation(inventory.location.datacenter, inventory.location.rack)
        return cls(location, tuple(
            CheckedAccelerator(a.index, a.vendor, a.model, a.memory_total_bytes, a.uuid, a.error)
            for a in inventory.accelerators
        ))


@dataclass(frozen=True)
class NodeFacts:
    """Everything the checks look at for one node, gathered by the sweep from the store."""

    node_id: str
    status: str  # pending | active | quarantined | revoked
    datacenter: str | None  # the data center of the node's enrollment token, not the agent's claim
    now: datetime
    enrolled_at: datetime
    last_seen_at: datetime | None
    usage_reports_in_window: int
    inventory: CheckedInventory | Inventory | None  # the sweep passes CheckedInventory.of(inventory)
    latest_usage: Usage | None = None
    identity_conflicts: Sequence[IdentityConflict] = ()
    registered_racks: frozenset[str] = frozenset()  # rack names registered in `datacenter`


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one named check; `excluded_accelerators` lists device indexes it removes."""

    name: str
    passed: bool
    reason: str | None = None
    excluded_accelerators: tuple[int, ...] = ()


def _ok(name: str) -> CheckResult:
    return CheckResult(name, True)


def _fail(name: str, reason: str) -> CheckResult:
    return CheckResult(name, False, reason)


def enrolled_not_revoked(facts: NodeFacts, policy: CertificationPolicy) -> CheckResult:
    """Only an active node can hold a certificate: pending awaits approval, quarantine awaits an operator."""
    if facts.status == "active":
        return _ok("enrolled_not_revoked")
    return _fail("enrolled_not_revoked", f"node status is {facts.status}, not active")


def heard_recently(facts: NodeFacts, policy: CertificationPolicy) -> CheckResult:
    """The node reported within the last few usage intervals, so its capacity is live now."""
    name = "heard_recently"
    limit_s = policy.usage_interval_s * policy.heard_within_intervals
    if facts.last_seen_at is None:
        return _fail(name, "no report received yet")
    silent_s = (facts.now - facts.last_seen_at).total_seconds()
    if silent_s > limit_s:
        return _fail(name, f"silent for {silent_s:.0f} s, more than {limit_s:.0f} s")
    return _ok(name)


def expected_usage_reports(facts: NodeFacts, policy: CertificationPolicy) -> int:
    """Reports a node should have sent in the window, which a node younger than the window shortens."""
    age_s = max(0.0, (facts.now - facts.enrolled_at).total_seconds())
    observed_s = min(policy.availability_window_s, age_s)
    return int(observed_s // policy.usage_interval_s)


def available_over_window(facts: NodeFacts, policy: CertificationPolicy) -> CheckResult:
    """The node was up for at least the configured share of the window, judged by its usage reports."""
    name = "available_over_window"
    expected = expected_usage_reports(facts, policy)
    if expected == 0:
        return _ok(name)  # enrolled less than one interval ago: nothing could be missing yet
    share = min(1.0, facts.usage_reports_in_window / expected)
    if share + 1e-9 < policy.availability_min_share:
        return _fail(
            name,
            f"{facts.usage_reports_in_window} of {expected} expected usage reports "
            f"({share:.1%} < {policy.availability_min_share:.0%})",
        )
    return _ok(name)


def identities_unique(facts: NodeFacts, policy: CertificationPolicy) -> CheckResult:
    """No hardware identity of this node is claimed by another node, so nothing is counted twice."""
    if not facts.identity_conflicts:
        return _ok("identities_unique")
    described = ", ".join(
        f"{c.identity.kind} {c.identity.value} also on node {c.other_node_id}" for c in facts.identity_conflicts
    )
    return _fail("identities_unique", described)


def _healthy_accelerators(facts: NodeFacts) -> list[CheckedAccelerator]:
    excluded = set(_unhealthy_indexes(facts))
    inventory = facts.inventory
    return [a for a in (inventory.accelerators if inventory else []) if a.index not in excluded]


def accelerators_known(
    facts: NodeFacts, policy: CertificationPolicy, catalog: AcceleratorCatalog | None = None
) -> CheckResult:
    """Every working accelerator is a catalog model with the memory that model has (no invented GPUs)."""
    name = "accelerators_known"
    catalog = catalog or DefaultCatalog()
    problems: list[str] = []
    for accelerator in _healthy_accelerators(facts):
        vendor = accelerator.vendor.value
        spec = catalog.match(vendor, accelerator.model or "", accelerator.memory_total_bytes)
        if spec is None:
            problems.append(f"#{accelerator.index} {vendor} {accelerator.model!r} not in catalog")
        elif accelerator.memory_total_bytes is None:
            problems.append(f"#{accelerator.index} {accelerator.model} reports no memory size")
        elif not catalog.memory_consistent(spec, accelerator.memory_total_bytes):
            problems.append(
                f"#{accelerator.index} {accelerator.model} memory {accelerator.memory_total_bytes} B "
                "inconsistent with catalog"
            )
    return _fail(name, "; ".join(problems)) if problems else _ok(name)


def located_in_registered_rack(facts: NodeFacts, policy: CertificationPolicy) -> CheckResult:
    """The node's rack is in the registry of its own data center, so standard racks can be counted."""
    name = "located_in_registered_rack"
    location = facts.inventory.location if facts.inventory else None
    if location is None or not location.rack:
        return _fail(name, "no rack configured in the agent's location")
    if location.datacenter and facts.datacenter and location.datacenter != facts.datacenter:
        return _fail(
            name, f"agent says data center {location.datacenter}, enrolled in {facts.datacenter}"
        )
    if location.rack not in facts.registered_racks:
        return _fail(name, f"rack {location.rack} is not registered in data center {facts.datacenter}")
    return _ok(name)


def _unhealthy_indexes(facts: NodeFacts) -> dict[int, str]:
    """Device index → why it cannot count: lost from the bus, or uncorrected ECC errors."""
    unhealthy: dict[int, str] = {}
    for accelerator in facts.inventory.accelerators if facts.inventory else []:
        if accelerator.error or accelerator.uuid is None:
            unhealthy[accelerator.index] = f"#{accelerator.index} lost ({accelerator.error or 'no uuid'})"
    for usage in facts.latest_usage.accelerators if facts.latest_usage else []:
        if usage.error and usage.index not in unhealthy:
            unhealthy[usage.index] = f"#{usage.index} unreadable ({usage.error})"
        elif (usage.ecc_uncorrected_errors or 0) > 0 and usage.index not in unhealthy:
            unhealthy[usage.index] = f"#{usage.index} has {usage.ecc_uncorrected_errors} uncorrected ECC errors"
    return unhealthy


def accelerators_healthy(facts: NodeFacts, policy: CertificationPolicy) -> CheckResult:
    """Failing devices leave the certified capacity; this check never decertifies the whole node."""
    unhealthy = _unhealthy_indexes(facts)
    if not unhealthy:
        return _ok("accelerators_healthy")
    reason = "; ".join(unhealthy[index] for index in sorted(unhealthy))
    return CheckResult("accelerators_healthy", False, reason, tuple(sorted(unhealthy)))


Check = Callable[[NodeFacts, CertificationPolicy], CheckResult]

# Checks that decide whether the node is certified at all, in the order reasons are reported.
GATING_CHECKS: tuple[Check, ...] = (
    enrolled_not_revoked,
    heard_recently,
    available_over_window,
    identities_unique,
    accelerators_known,
    located_in_registered_rack,
)
# Checks that only shrink the certified capacity.
DEGRADING_CHECKS: tuple[Check, ...] = (accelerators_healthy,)


@dataclass(frozen=True)
class Verdict:
    """All check results for a node and what follows from them."""

    node_id: str
    results: tuple[CheckResult, ...]
    certified: bool = field(init=False)
    excluded_accelerators: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        gating = {check.__name__ for check in GATING_CHECKS}
        certified = all(r.passed for r in self.results if r.name in gating)
        excluded = sorted({index for r in self.results for index in r.excluded_accelerators})
        object.__setattr__(self, "certified", certified)
        object.__setattr__(self, "excluded_accelerators", tuple(excluded))

    def failures(self) -> dict[str, str]:
        """Check name → reason for every check that did not pass."""
        return {r.name: r.reason or "" for r in self.results if not r.passed}

    def passed_names(self) -> list[str]:
        return [r.name for r in self.results if r.passed]


def evaluate(
    facts: NodeFacts, policy: CertificationPolicy | None = None, catalog: AcceleratorCatalog | None = None
) -> Verdict:
    """Run every check on one node; the catalog is injectable so tests need no datasheet data."""
    policy = policy or CertificationPolicy()
    results = []
    for check in GATING_CHECKS + DEGRADING_CHECKS:
        if check is accelerators_known:
            results.append(accelerators_known(facts, policy, catalog))
        else:
            results.append(check(facts, policy))
    return Verdict(facts.node_id, tuple(results))
