"""The accelerator catalog: data integrity, explicit name matching and the memory-consistency rule."""

from __future__ import annotations

import pytest

from suanli.catalog import (
    MEMORY_MIN_RATIO,
    PRECISIONS,
    accelerator_specs,
    match_accelerator,
    memory_consistent,
    normalize_model_name,
    spec_by_key,
)
from suanli.schema import AcceleratorVendor

GIB = 2**30
MIB = 2**20

# (vendor, name exactly as the tool prints it, reported memory, expected catalog key or None)
MATCH_TABLE = [
    ("nvidia", "NVIDIA H100 80GB HBM3", 81559 * MIB, "nvidia-h100-sxm5-80gb"),
    ("nvidia", "NVIDIA H100 PCIe", 81559 * MIB, "nvidia-h100-pcie-80gb"),
    ("nvidia", "NVIDIA H100 NVL", 95830 * MIB, "nvidia-h100-nvl-94gb"),
    ("nvidia", "NVIDIA H200", 143771 * MIB, "nvidia-h200-sxm-141gb"),
    ("nvidia", "NVIDIA H200 NVL", 143771 * MIB, "nvidia-h200-nvl-141gb"),
    ("nvidia", "NVIDIA H800", 81559 * MIB, "nvidia-h800-sxm5-80gb"),
    ("nvidia", "NVIDIA H800 PCIe", 81559 * MIB, "nvidia-h800-pcie-80gb"),
    ("nvidia", "NVIDIA H20", 97871 * MIB, "nvidia-h20-96gb"),
    ("nvidia", "NVIDIA A100-SXM4-80GB", 81920 * MIB, "nvidia-a100-sxm4-80gb"),
    ("nvidia", "NVIDIA A100-SXM4-40GB", 40960 * MIB, "nvidia-a100-sxm4-40gb"),
    ("nvidia", "A100-SXM4-40GB", None, "nvidia-a100-sxm4-40gb"),  # early drivers printed no "NVIDIA"
    ("nvidia", "NVIDIA A100-PCIE-40GB", 40536 * MIB, "nvidia-a100-pcie-40gb"),
    ("nvidia", "NVIDIA A100 80GB PCIe", 81920 * MIB, "nvidia-a100-pcie-80gb"),
    ("nvidia", "NVIDIA A800-SXM4-80GB", 81920 * MIB, "nvidia-a800-sxm4-80gb"),
    ("nvidia", "NVIDIA A800 80GB PCIe", 81920 * MIB, "nvidia-a800-pcie-80gb"),
    ("nvidia", "NVIDIA A10", 23028 * MIB, "nvidia-a10-24gb"),
    ("nvidia", "NVIDIA A30", 24576 * MIB, "nvidia-a30-24gb"),
    ("nvidia", "NVIDIA A40", 46068 * MIB, "nvidia-a40-48gb"),
    ("nvidia", "NVIDIA L40", 46068 * MIB, "nvidia-l40-48gb"),
    ("nvidia", "NVIDIA L40S", 46068 * MIB, "nvidia-l40s-48gb"),
    ("nvidia", "NVIDIA L20", 46068 * MIB, "nvidia-l20-48gb"),
    ("nvidia", "NVIDIA L4", 23034 * MIB, "nvidia-l4-24gb"),
    ("nvidia", "Tesla V100-SXM2-32GB", 32510 * MIB, "nvidia-v100-sxm2-32gb"),
    ("nvidia", "Tesla V100-SXM2-16GB", 16160 * MIB, "nvidia-v100-sxm2-16gb"),
    ("nvidia", "Tesla V100-PCIE-32GB", 32510 * MIB, "nvidia-v100-pcie-32gb"),
    ("nvidia", "NVIDIA GeForce RTX 4090", 24564 * MIB, "nvidia-geforce-rtx-4090-24gb"),
    ("huawei", "910B3", 65536 * MIB, "huawei-ascend-910b3"),
    ("huawei", "Ascend910B1", None, "huawei-ascend-910b1"),
    ("huawei", "Ascend 910B4", 32768 * MIB, "huawei-ascend-910b4"),
    ("hygon", "K100_AI", 65520 * MIB, "hygon-dcu-k100-ai-64gb"),
    ("hygon", "Z100", 32752 * MIB, "hygon-dcu-z100-32gb"),
    ("hygon", "Z100L", None, "hygon-dcu-z100-32gb"),
    ("cambricon", "MLU370-X8", None, "cambricon-mlu370-x8-48gb"),
    ("cambricon", "MLU370-S4", 24576 * MIB, "cambricon-mlu370-s4-24gb"),
    ("cambricon", "MLU590", None, "cambricon-mlu590"),
    # One name, several entries: memory picks the one that fits, or the model stays unknown.
    ("huawei", "910B", 32768 * MIB, "huawei-ascend-910b4"),
    ("huawei", "910B", 65536 * MIB, None),
    ("huawei", "910B", None, None),
    # Unknown or near-miss names are never guessed.
    ("nvidia", "NVIDIA H100", 81559 * MIB, None),
    ("nvidia", "NVIDIA B200", 183359 * MIB, None),
    ("nvidia", "NVIDIA GeForce RTX 4080", 16376 * MIB, None),
    ("nvidia", "NVIDIA A100", None, None),
    ("nvidia", "", None, None),
    ("huawei", "NVIDIA H100 PCIe", None, None),  # right name, wrong vendor
    (AcceleratorVendor.NVIDIA, "NVIDIA L40S", None, "nvidia-l40s-48gb"),
]


@pytest.mark.parametrize(("vendor", "name", "memory", "expected"), MATCH_TABLE)
def test_match_table(vendor: str, name: str, memory: int | None, expected: str | None) -> None:
    spec = match_accelerator(vendor, name, memory)
    assert (spec.key if spec else None) == expected


def test_every_matched_device_in_the_table_has_consistent_memory() -> None:
    for vendor, name, memory, expected in MATCH_TABLE:
        if expected and memory is not None:
            assert memory_consistent(spec_by_key(expected), memory), (name, memory)


def test_entries_are_complete_and_sourced() -> None:
    specs = accelerator_specs()
    assert len({spec.key for spec in specs}) == len(specs)
    for spec in specs:
        assert tuple(spec.peak_flops) == PRECISIONS, spec.key
        assert spec.source.title and spec.source.url.startswith("https://"), spec.key
        assert AcceleratorVendor(spec.vendor)
        assert spec.names, spec.key
        for value in spec.peak_flops.values():
            assert value is None or 1e11 <= value <= 1e16, (spec.key, value)


def test_required_models_are_present() -> None:
    keys = {spec.key for spec in accelerator_specs()}
    required = {
        "nvidia-h100-sxm5-80gb", "nvidia-h100-pcie-80gb", "nvidia-h100-nvl-94gb", "nvidia-h200-sxm-141gb",
        "nvidia-h800-sxm5-80gb", "nvidia-h800-pcie-80gb", "nvidia-h20-96gb", "nvidia-a100-sxm4-40gb",
        "nvidia-a100-sxm4-80gb", "nvidia-a100-pcie-40gb", "nvidia-a100-pcie-80gb", "nvidia-a800-sxm4-80gb",
        "nvidia-a800-pcie-80gb", "nvidia-a10-24gb", "nvidia-a30-24gb", "nvidia-a40-48gb", "nvidia-l40-48gb",
        "nvidia-l40s-48gb", "nvidia-l20-48gb", "nvidia-l4-24gb", "nvidia-v100-sxm2-16gb",
        "nvidia-v100-sxm2-32gb", "nvidia-v100-pcie-16gb", "nvidia-geforce-rtx-4090-24gb",
        "huawei-ascend-910b1", "huawei-ascend-910b2", "huawei-ascend-910b3", "huawei-ascend-910b4",
        "hygon-dcu-k100-64gb", "hygon-dcu-z100-32gb", "cambricon-mlu370-x8-48gb", "cambricon-mlu590",
    }
    assert required <= keys, required - keys


def test_sparse_datasheet_figures_are_halved() -> None:
    h100 = spec_by_key("nvidia-h100-sxm5-80gb")
    # The H100 datasheet prints FP16 1,979 and FP8 3,958 TFLOPS "with sparsity".
    assert h100.peak_flops["fp16"] == pytest.approx(1979e12 / 2)
    assert h100.peak_flops["fp8"] == pytest.approx(3958e12 / 2)
    assert h100.peak_flops["fp64"] == pytest.approx(34e12)
    assert "sparsity" in h100.note
    a100 = spec_by_key("nvidia-a100-sxm4-80gb")
    assert a100.peak_flops["fp8"] is None  # Ampere has no FP8: null, not zero


def test_memory_tolerance_separates_sizes() -> None:
    a100_80 = spec_by_key("nvidia-a100-sxm4-80gb")
    assert memory_consistent(a100_80, 81920 * MIB)
    assert not memory_consistent(a100_80, 40960 * MIB)
    assert memory_consistent(a100_80, int(80 * GIB * MEMORY_MIN_RATIO))
    assert not memory_consistent(a100_80, int(80 * GIB * MEMORY_MIN_RATIO) - 1)
    assert not memory_consistent(a100_80, 90 * GIB)
    assert not memory_consistent(a100_80, None)


def test_normalize_model_name() -> None:
    assert normalize_model_name("nvidia", "NVIDIA  A100-SXM4-80GB") == "a100 sxm4 80gb"
    assert normalize_model_name("nvidia", "Tesla V100-PCIE-16GB") == "v100 pcie 16gb"
    assert normalize_model_name("huawei", "Ascend910B3") == "910b3"
    assert normalize_model_name("nvidia", "NVIDIA_NVL") == "nvl"


def test_entries_without_datasheet_figures_are_null_not_zero() -> None:
    mlu590 = spec_by_key("cambricon-mlu590")
    assert mlu590.memory_bytes is None and set(mlu590.peak_flops.values()) == {None}
    assert not memory_consistent(mlu590, 80 * GIB)  # unknown size cannot be confirmed
    assert spec_by_key("huawei-ascend-910b3").peak_flops["fp16"] is None
    assert spec_by_key("cambricon-mlu370-x8-48gb").peak_flops["fp16"] == pytest.approx(96e12)
