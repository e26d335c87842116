"""The Hygon DCU backend on hy-smi / rocm-smi JSON (including hy-smi's malformed JSON), through a real stand-in tool."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.vendor_tools import FIXTURES, install_hanging_tool, install_tool

from suanli.agent.backends.base import BackendUnavailable
from suanli.agent.backends.hygon import ARGS, HygonBackend
from suanli.agent.backends.hygon_parse import UnparseableOutput, load_smi_json
from suanli.agent.backends.tool import ToolRunner
from suanli.catalog import match_accelerator, memory_consistent

HYGON = FIXTURES / "hygon"
ARGUMENTS = " ".join(ARGS)


def _backend(directory: Path, timeout_s: float = 5.0) -> HygonBackend:
    return HygonBackend(ToolRunner(search_path=str(directory), timeout_s=timeout_s))


def _install(directory: Path, tool: str, fixture: str, code: int = 0) -> None:
    install_tool(directory, tool, {ARGUMENTS: (HYGON / fixture, code)})


def test_hy_smi_malformed_json_is_repaired() -> None:
    text = (HYGON / "hy-smi-json-8xk100ai.txt").read_text()
    data = load_smi_json(text)
    assert sorted(data) == [f"card{i}" for i in range(8)] + ["system"]
    assert data["card0"]["Average GFX Core Power (W)"] == "20.0"
    assert "" not in data["card0"]


def test_truncated_output_is_refused() -> None:
    with pytest.raises(UnparseableOutput, match="not JSON"):
        load_smi_json((HYGON / "hy-smi-json-truncated.txt").read_text())


def test_multi_device_node_with_hy_smi(tmp_path: Path) -> None:
    _install(tmp_path, "hy-smi", "hy-smi-json-8xk100ai.txt")
    backend = _backend(tmp_path)
    result = backend.inventory()
    assert result.status.available and result.status.device_count == 8
    devices = result.accelerators
    assert {d.vendor.value for d in devices} == {"hygon"}
    assert len({d.uuid for d in devices}) == 8
    first = devices[0]
    assert (first.model, first.uuid, first.serial) == ("K100_AI", "DCU-0x7f00c1d200", "HYK100AI00000")
    assert (first.memory_total_bytes, first.power_limit_w, first.driver_version) == (65520 * 2**20, 400.0, "6.3.9")
    spec = match_accelerator(first.vendor, first.model, first.memory_total_bytes)
    assert spec.key == "hygon-dcu-k100-ai-64gb" and memory_consistent(spec, first.memory_total_bytes)
    busy = backend.usage()[6]
    assert (busy.utilization_percent, busy.power_w, busy.memory_used_bytes) == (99.0, 388.0, 61880 * 2**20)
    assert busy.temperature_c == 56.0


def test_rocm_smi_well_formed_json(tmp_path: Path) -> None:
    _install(tmp_path, "rocm-smi", "rocm-smi-json-4xz100.txt")
    devices = _backend(tmp_path).inventory().accelerators
    assert [d.model for d in devices] == ["Z100"] * 4 and {d.vendor.value for d in devices} == {"hygon"}
    assert match_accelerator("hygon", "Z100", devices[0].memory_total_bytes).key == "hygon-dcu-z100-32gb"
    usage = _backend(tmp_path).usage()
    assert usage[2].utilization_percent == 97.0 and usage[2].memory_used_bytes == 30202888192


def test_rocm_smi_amd_gpu_is_not_counted_as_hygon(tmp_path: Path) -> None:
    text = (HYGON / "rocm-smi-json-4xz100.txt").read_text().replace("Chengdu Haiguang IC Design Co., Ltd.",
                                                                       "Advanced Micro Devices, Inc. [AMD/ATI]")
    (tmp_path / "amd.json").write_text(text)
    install_tool(tmp_path, "rocm-smi", {ARGUMENTS: (tmp_path / "amd.json", 0)})
    assert {d.vendor.value for d in _backend(tmp_path).inventory().accelerators} == {"other"}


def test_hy_smi_preferred_over_rocm_smi(tmp_path: Path) -> None:
    _install(tmp_path, "hy-smi", "hy-smi-json-8xk100ai.txt")
    _install(tmp_path, "rocm-smi", "rocm-smi-json-4xz100.txt")
    assert _backend(tmp_path).inventory().status.device_count == 8


def test_device_in_error_and_partial_readings(tmp_path: Path) -> None:
    _install(tmp_path, "hy-smi", "hy-smi-json-device-error.txt")
    backend = _backend(tmp_path)
    devices = backend.inventory().accelerators
    assert [d.index for d in devices if d.error] == [2]
    assert devices[2].uuid is None and devices[2].model is None
    usage = backend.usage()
    assert usage[1].error is None and usage[1].power_w is None and usage[1].temperature_c is None
    assert usage[1].utilization_percent == 3.0
    assert "could not read" in usage[2].error


def test_truncated_output_makes_backend_unavailable(tmp_path: Path) -> None:
    _install(tmp_path, "hy-smi", "hy-smi-json-truncated.txt")
    result = _backend(tmp_path).inventory()
    assert not result.status.available and "not JSON" in result.status.reason


def test_driver_error(tmp_path: Path) -> None:
    _install(tmp_path, "rocm-smi", "rocm-smi-error-no-driver.txt", code=1)
    result = _backend(tmp_path).inventory()
    assert not result.status.available and "Driver not initialized" in result.status.reason


def test_tool_missing(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    result = backend.inventory()
    assert (result.status.available, result.accelerators) == (False, [])
    assert "neither hy-smi nor rocm-smi found" in result.status.reason
    with pytest.raises(BackendUnavailable):
        backend.usage()


def test_tool_hanging(tmp_path: Path) -> None:
    install_hanging_tool(tmp_path, "hy-smi", tmp_path / "pids")
    result = _backend(tmp_path, timeout_s=0.5).inventory()
    assert not result.status.available and "timed out after 0.5 s" in result.status.reason
