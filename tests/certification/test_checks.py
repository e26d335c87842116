"""Each certification check passes on good facts and fails with its reason on bad ones (table-driven)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from suanli.controlplane.certification import checks
from suanli.controlplane.certification.checks import CertificationPolicy, CheckedInventory, NodeFacts, evaluate
from suanli.controlplane.certification.identities import Identity, IdentityConflict
from suanli.schema import Inventory, Usage

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
GIB = 2**30


class FakeCatalog:
    """Two models: H100 SXM with 80 GiB and Ascend 910B with 64 GiB."""

    MODELS = {("nvidia", "NVIDIA H100 80GB HBM3"): 80 * GIB, ("huawei", "Ascend910B"): 64 * GIB}

    def match(self, vendor: str, model_name: str, memory_total_bytes: int | None) -> Any | None:
        memory = self.MODELS.get((vendor, model_name))
        return None if memory is None else {"memory_bytes": memory}

    def memory_consistent(self, spec: Any, memory_total_bytes: int) -> bool:
        return abs(memory_total_bytes - spec["memory_bytes"]) <= spec["memory_bytes"] * 0.05


def _gpu(index: int, **extra: Any) -> dict[str, Any]:
    gpu = {
        "vendor": "nvidia",
        "index": index,
        "model": "NVIDIA H100 80GB HBM3",
        "uuid": f"GPU-{index:04d}",
        "memory_total_bytes": 80 * GIB - 512 * 2**20,
    }
    return gpu | extra


def _inventory(**overrides: Any) -> CheckedInventory:
    """The slim form the sweep hands the checks, made from a validated inventory as the sweep makes it."""
    document = {
        "host": {"hostname": "gpu-1", "machine_id": "a" * 32, "dmi_product_uuid": "4c4c4544-0001"},
        "location": {"province": "CN-SD", "datacenter": "jinan-1", "rack": "R01"},
        "accelerators": [_gpu(0), _gpu(1)],
    }
    return CheckedInventory.of(Inventory.model_validate(document | overrides))


GOOD = NodeFacts(
    node_id="n1",
    status="active",
    datacenter="jinan-1",
    now=NOW,
    enrolled_at=NOW - timedelta(days=3),
    last_seen_at=NOW - timedelta(seconds=20),
    usage_reports_in_window=2880,
    inventory=_inventory(),
    latest_usage=Usage(),
    registered_racks=frozenset({"R01", "R02"}),
)
POLICY = CertificationPolicy()

CONFLICT = IdentityConflict(Identity("accelerator_uuid", "GPU-0000"), "n2")

CASES = [
    # (check, overrides, passes, words in the reason)
    ("enrolled_not_revoked", {}, True, None),
    ("enrolled_not_revoked", {"status": "revoked"}, False, "status is revoked"),
    ("enrolled_not_revoked", {"status": "pending"}, False, "status is pending"),
    ("enrolled_not_revoked", {"status": "quarantined"}, False, "status is quarantined"),
    ("heard_recently", {}, True, None),
    ("heard_recently", {"last_seen_at": NOW - timedelta(seconds=90)}, True, None),
    ("heard_recently", {"last_seen_at": NOW - timedelta(seconds=91)}, False, "silent for 91 s, more than 90 s"),
    ("heard_recently", {"last_seen_at": None}, False, "no report received"),
    ("available_over_window", {}, True, None),
    ("available_over_window", {"usage_reports_in_window": 2736}, True, None),
    ("available_over_window", {"usage_reports_in_window": 2735}, False, "2735 of 2880 expected"),
    ("available_over_window", {"usage_reports_in_window": 0}, False, "0 of 2880"),
    # A node enrolled an hour ago is judged over that hour, not over a day it did not exist.
    ("available_over_window", {"enrolled_at": NOW - timedelta(hours=1), "usage_reports_in_window": 118}, True, None),
    ("available_over_window", {"enrolled_at": NOW - timedelta(hours=1), "usage_reports_in_window": 100}, False, "100 of 120"),
    ("available_over_window", {"enrolled_at": NOW - timedelta(seconds=10), "usage_reports_in_window": 0}, True, None),
    ("identities_unique", {}, True, None),
    ("identities_unique", {"identity_conflicts": (CONFLICT,)}, False, "accelerator_uuid GPU-0000 also on node n2"),
    ("accelerators_known", {}, True, None),
    ("accelerators_known", {"inventory": _inventory(accelerators=[])}, True, None),
    ("accelerators_known", {"inventory": _inventory(accelerators=[_gpu(0, model="NVIDIA Z9000")])}, False, "'NVIDIA Z9000' not in catalog"),
    ("accelerators_known", {"inventory": _inventory(accelerators=[_gpu(0, memory_total_bytes=40 * GIB)])}, False, "inconsistent with catalog"),
    ("accelerators_known", {"inventory": _inventory(accelerators=[_gpu(0, memory_total_bytes=None)])}, False, "reports no memory size"),
    # A lost GPU is judged by accelerators_healthy, not held against the model check.
    ("accelerators_known", {"inventory": _inventory(accelerators=[_gpu(0), _gpu(1, model=None, uuid=None, error="fell off the bus")])}, True, None),
    ("located_in_registered_rack", {}, True, None),
    ("located_in_registered_rack", {"registered_racks": frozenset({"R02"})}, False, "rack R01 is not registered in data center jinan-1"),
    ("located_in_registered_rack", {"inventory": _inventory(location={"datacenter": "jinan-1"})}, False, "no rack configured"),
    ("located_in_registered_rack", {"inventory": _inventory(location={"datacenter": "qingdao-2", "rack": "R01"})}, False, "enrolled in jinan-1"),
    ("accelerators_healthy", {}, True, None),
    ("accelerators_healthy", {"inventory": _inventory(accelerators=[_gpu(0), _gpu(1, uuid=None, error="GPU is lost")])}, False, "#1 lost (GPU is lost)"),
    ("accelerators_healthy", {"latest_usage": Usage(accelerators=[{"index": 0, "ecc_uncorrected_errors": 2}])}, False, "#0 has 2 uncorrected ECC errors"),
    ("accelerators_healthy", {"latest_usage": Usage(accelerators=[{"index": 0, "ecc_corrected_errors": 50, "ecc_uncorrected_errors": 0}])}, True, None),
]


@pytest.mark.parametrize(("name", "overrides", "passes", "reason"), CASES)
def test_check(name: str, overrides: dict[str, Any], passes: bool, reason: str | None) -> None:
    facts = replace(GOOD, **overrides)
    check = getattr(checks, name)
    result = check(facts, POLICY, FakeCatalog()) if name == "accelerators_known" else check(facts, POLICY)
    assert result.name == name
    assert result.passed is passes, result.reason
    if reason is None:
        assert result.reason is None
    else:
        assert reason in (result.reason or "")


def test_good_node_is_certified_with_every_check_passed() -> None:
    verdict = evaluate(GOOD, POLICY, FakeCatalog())
    assert verdict.certified
    assert verdict.failures() == {}
    assert len(verdict.passed_names()) == len(checks.GATING_CHECKS) + len(checks.DEGRADING_CHECKS)


def test_unhealthy_gpu_leaves_capacity_but_node_stays_certified() -> None:
    usage = Usage(accelerators=[{"index": 1, "ecc_uncorrected_errors": 1}])
    verdict = evaluate(replace(GOOD, latest_usage=usage), POLICY, FakeCatalog())
    assert verdict.certified
    assert verdict.excluded_accelerators == (1,)
    assert "accelerators_healthy" in verdict.failures()


def test_any_gating_failure_decertifies_with_all_reasons() -> None:
    facts = replace(GOOD, status="quarantined", last_seen_at=None)
    verdict = evaluate(facts, POLICY, FakeCatalog())
    assert not verdict.certified
    assert set(verdict.failures()) == {"enrolled_not_revoked", "heard_recently"}


def test_policy_thresholds_are_configurable() -> None:
    strict = CertificationPolicy(usage_interval_s=10, heard_within_intervals=2)
    facts = replace(GOOD, last_seen_at=NOW - timedelta(seconds=25))
    assert not checks.heard_recently(facts, strict).passed
    lenient = CertificationPolicy(availability_min_share=0.5)
    assert checks.available_over_window(replace(GOOD, usage_reports_in_window=1500), lenient).passed
