"""Tests of the v1 wire contract: round-trips and the bounds that keep bad reports out."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from suanli.schema import (
    MAX_BATCH_REPORTS,
    SCHEMA_VERSION,
    Inventory,
    InventoryReport,
    ReportBatch,
    Usage,
    UsageReport,
    report_adapter,
)
from suanli.schema.common import ContractModel

SENT_AT = "2026-11-21T08:00:00Z"


def inventory_body() -> dict[str, Any]:
    return {
        "host": {"hostname": "gpu-a01", "machine_id": "0123456789abcdef0123456789abcdef",
                 "boot_time": "2026-11-20T00:00:00+08:00"},
        "location": {"province": "CN-SD", "datacenter": "jn-1", "rack": "A07", "rack_unit": 12},
        "cpu": {"model": "Intel(R) Xeon(R) Platinum 8480+", "sockets": 2, "physical_cores": 112,
                "logical_cores": 224, "base_mhz": 2000.0, "isa_features": ["avx512f", "amx_tile"]},
        "memory": {"total_bytes": 2 * 2**40},
        "accelerators": [{"vendor": "nvidia", "index": 0, "model": "NVIDIA H100 80GB HBM3",
                          "uuid": "GPU-1", "memory_total_bytes": 80 * 2**30}],
        "accelerator_backends": [{"name": "nvml", "available": True, "device_count": 1}],
        "block_devices": [{"name": "nvme0n1", "size_bytes": 3840755982336, "media": "nvme"}],
        "filesystems": [{"mountpoint": "/data", "device": "10.0.0.5:/export", "fstype": "nfs4",
                         "size_bytes": 10**15, "used_bytes": 10**14, "available_bytes": 9 * 10**14,
                         "is_network": True, "network_source": "10.0.0.5:/export"}],
        "network_interfaces": [{"name": "ib0", "kind": "infiniband", "link_up": True, "speed_mbps": 400000,
                                "ib_device": "mlx5_0", "ib_port": 1, "ib_rate_gbps": 400.0}],
        "collectors": [{"name": "cpu", "state": "ok", "duration_ms": 0.4}],
    }


def usage_body() -> dict[str, Any]:
    return {"cpu_percent": 12.5, "load_1m": 3.0, "memory_used_bytes": 2**30,
            "accelerators": [{"index": 0, "utilization_percent": 99.0, "power_w": 650.0, "temperature_c": 71.0}],
            "filesystems": [{"mountpoint": "/", "size_bytes": 10**12, "used_bytes": 10**11}]}


def envelope(kind: str, body: dict[str, Any], seq: int = 1) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "node_id": "node-1", "seq": seq, "sent_at": SENT_AT, "kind": kind, "body": body}


def test_batch_round_trips_through_json() -> None:
    batch = ReportBatch.model_validate({"reports": [envelope("inventory", inventory_body()),
                                                    envelope("usage", usage_body(), seq=2)]})
    assert isinstance(batch.reports[0], InventoryReport) and isinstance(batch.reports[1], UsageReport)
    dumped = batch.model_dump(mode="json", by_alias=True)
    assert dumped["reports"][0]["schema"] == "v1"
    assert ReportBatch.model_validate(dumped) == batch
    assert ReportBatch.model_validate_json(batch.model_dump_json(by_alias=True)) == batch


def test_timestamps_are_normalized_to_utc() -> None:
    inventory = Inventory.model_validate(inventory_body())
    assert inventory.host.boot_time == datetime(2026, 11, 19, 16, 0, tzinfo=timezone.utc)
    assert inventory.host.boot_time.utcoffset() == timedelta(0)


def _with(body: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(("path", "value"), [
    (["memory", "total_bytes"], -1),
    (["block_devices", 0, "size_bytes"], -512),
    (["filesystems", 0, "used_bytes"], -1),
    (["memory", "total_bytes"], 2**63),  # beyond any sane host
    (["cpu", "sockets"], 0),
    (["network_interfaces", 0, "speed_mbps"], -1),
    (["location", "province"], "CN-shandong"),
    (["location", "province"], "US-CA"),
    (["location", "rack_unit"], 0),
    (["host", "machine_id"], "not-a-machine-id"),
    (["host", "boot_time"], "2026-11-20T00:00:00"),  # naive: no time zone
    (["host", "surprise"], "x"),  # unknown field
    (["cpu", "isa_features"], ["x"] * 257),  # oversize list
    (["collectors", 0, "state"], "exploded"),
])
def test_inventory_rejects(path: list[Any], value: Any) -> None:
    with pytest.raises(ValidationError):
        Inventory.model_validate(_with(inventory_body(), path, value))


def test_usage_rejects_out_of_range_percent_and_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        Usage.model_validate({**usage_body(), "cpu_percent": 100.5})
    with pytest.raises(ValidationError):
        Usage.model_validate({**usage_body(), "gpu_percent": 1.0})


def test_envelope_rejects_wrong_version_naive_time_and_bad_seq() -> None:
    for bad in ({"schema": "v2"}, {"sent_at": "2026-11-21T08:00:00"}, {"seq": 0}, {"node_id": "a b"},
                {"kind": "telemetry"}):
        with pytest.raises(ValidationError):
            report_adapter.validate_python({**envelope("usage", usage_body()), **bad})


def test_batch_size_is_bounded() -> None:
    report = envelope("usage", usage_body())
    ReportBatch.model_validate({"reports": [report] * MAX_BATCH_REPORTS})
    with pytest.raises(ValidationError):
        ReportBatch.model_validate({"reports": [report] * (MAX_BATCH_REPORTS + 1)})
    with pytest.raises(ValidationError):
        ReportBatch.model_validate({"reports": []})


def test_nul_in_any_text_is_refused_at_its_field_path() -> None:
    body = inventory_body()
    body["accelerators"][0]["model"] = "NVIDIA H100\u0000"
    batch = {"reports": [envelope("inventory", inventory_body(), seq=1), envelope("inventory", body, seq=2)]}
    with pytest.raises(ValidationError) as raised:
        ReportBatch.model_validate_json(json.dumps(batch))
    assert raised.value.errors()[0]["loc"] == ("reports", 1, "body", "accelerators", 0, "model")
    with pytest.raises(ValidationError):
        ReportBatch.model_validate(batch)


def test_an_escaped_backslash_before_u0000_is_plain_text_and_accepted() -> None:
    # The raw-bytes pre-check sees "\\u0000" here, walks the model and finds no U+0000.
    body = inventory_body()
    body["host"]["hostname"] = "odd\\u0000name"
    batch = ReportBatch.model_validate_json(json.dumps({"reports": [envelope("inventory", body)]}))
    assert batch.reports[0].body.host.hostname == "odd\\u0000name"


def _contract_models() -> list[type[ContractModel]]:
    """Every wire model of every module of suanli.schema (all imported first, so the walk does not
    depend on which modules other tests happened to import)."""
    import importlib
    import pkgutil

    import suanli.schema as schema_package

    for module in pkgutil.iter_modules(schema_package.__path__):
        importlib.import_module(f"{schema_package.__name__}.{module.name}")
    seen: list[type[ContractModel]] = []
    pending = [ContractModel]
    while pending:
        model = pending.pop()
        for subclass in model.__subclasses__():
            if subclass not in seen and subclass.__module__.startswith(schema_package.__name__):
                seen.append(subclass)
                pending.append(subclass)
    return seen


def test_no_wire_model_has_a_mutable_default() -> None:
    """Pydantic deep-copies a list, dict or model default for every instance that leaves the field
    out (~4 µs each, ten times a 10-report usage batch at ingest); a default_factory builds it afresh."""
    models = _contract_models()
    assert ReportBatch in models and len(models) > 20  # the walk found the wire models
    mutable = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if isinstance(field.default, (list, dict, set, BaseModel))
    ]
    assert mutable == []
