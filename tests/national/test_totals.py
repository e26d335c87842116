"""Capacities add up per field, shared network storage counts once, national units are exa-scaled."""

from __future__ import annotations

import pytest

from suanli.national.totals import CapacitySum, national_units, sum_capacities
from suanli.schema.national import Capacity, Flops

SHARED = "c" * 64


def _node(cores: int, fp16: float, gpus: int, shared_bytes: int) -> Capacity:
    return Capacity(
        cpu_physical_cores=cores,
        memory_bytes=cores * 2**30,
        accelerators={"NVIDIA H100 SXM5 80GB": gpus} if gpus else {},
        flops=Flops(fp16=fp16, fp32=fp16 / 10, fp64=fp16 / 20),
        storage_local_bytes=10**12,
        network_storage={SHARED: shared_bytes},
        ports_400g=gpus,
    )


def test_sum_adds_fields_and_counts_shared_storage_once() -> None:
    total = sum_capacities([_node(64, 8e15, 8, 5 * 10**15), _node(32, 0.0, 0, 5 * 10**15)])
    assert total.cpu_physical_cores == 96
    assert total.accelerators == {"NVIDIA H100 SXM5 80GB": 8}
    assert total.flops.fp16 == 8e15 and total.flops.fp64 == 4e14
    assert total.storage_bytes == 2 * 10**12 + 5 * 10**15
    assert total.ports_400g == 8


def test_sum_takes_json_dicts_like_models() -> None:
    node = _node(64, 8e15, 8, 10)
    assert sum_capacities([node.model_dump(mode="json")]) == sum_capacities([node])


def test_subtracting_removes_a_node() -> None:
    running = CapacitySum()
    running.add(_node(64, 8e15, 8, 0))
    running.add(_node(32, 1e15, 1, 0))
    running.add(_node(32, 1e15, 1, 0), sign=-1)
    assert running.result().accelerators == {"NVIDIA H100 SXM5 80GB": 8}
    assert running.result().cpu_physical_cores == 64


def test_national_units_keep_precisions_apart() -> None:
    units = national_units(_node(64, 2e18, 8, 10**18), standard_racks=4.0)
    assert units["eflops_fp16"] == pytest.approx(2.0)
    assert units["eflops_fp32"] == pytest.approx(0.2)
    assert units["eflops_fp64"] == pytest.approx(0.1)
    assert units["storage_eb"] == pytest.approx(1.000001)
    assert units["standard_racks"] == 4.0 and units["ports_400g"] == 8
