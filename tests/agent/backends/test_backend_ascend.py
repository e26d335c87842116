"""The Ascend backend on npu-smi output saved from the documented formats, through a real stand-in npu-smi."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakes.vendor_tools import FIXTURES, install_hanging_tool, install_npu_smi

from suanli.agent.backends.ascend import AscendBackend
from suanli.agent.backends.ascend_parse import parse_key_values, parse_npu_smi_info
from suanli.agent.backends.base import BackendUnavailable
from suanli.agent.backends.tool import ToolRunner
from suanli.catalog import match_accelerator, memory_consistent

ASCEND = FIXTURES / "ascend"
GIB = 2**30


def _read(name: str) -> str:
    return (ASCEND / name).read_text()


def _backend(directory: Path, timeout_s: float = 5.0) -> AscendBackend:
    return AscendBackend(ToolRunner(search_path=str(directory), timeout_s=timeout_s))


def test_parse_overview_of_eight_910b3() -> None:
    info = parse_npu_smi_info(_read("npu-smi-info-8x910b3.txt"))
    assert info.driver_version == "23.0.rc3"
    assert [row.npu_id for row in info.rows] == list(range(8))
    busy = info.rows[2]
    assert (busy.power_w, busy.temperature_c, busy.aicore_percent) == (351.2, 52.0, 98.0)
    assert (busy.hbm_used_mib, busy.hbm_total_mib, busy.bus_id) == (61234, 65536, "0000:C3:00.0")


def test_parse_overview_without_hbm_column_and_with_device_column() -> None:
    (row,) = parse_npu_smi_info(_read("npu-smi-info-atlas200i-a2.txt")).rows
    assert (row.name, row.logical_id, row.bus_id) == ("310B1", 0, None)
    assert (row.memory_used_mib, row.memory_total_mib, row.hbm_total_mib) == (957, 10810, None)


def test_parse_board_drops_na() -> None:
    board = parse_key_values(_read("npu-smi-board-container.txt"))
    assert "Serial Number" not in board and board["Software Version"] == "23.0.rc3"
    assert parse_key_values(_read("npu-smi-board-i0.txt"))["PCIe Bus Info"] == "0000:C1:00.0"


def test_multi_device_node(tmp_path: Path) -> None:
    install_npu_smi(tmp_path, "npu-smi-info-8x910b3.txt")
    backend = _backend(tmp_path)
    result = backend.inventory()
    assert result.status.available and result.status.device_count == 8
    devices = result.accelerators
    assert [d.index for d in devices] == list(range(8))
    assert len({d.uuid for d in devices}) == 8 and all(d.uuid.startswith("ascend-die-") for d in devices)
    first = devices[0]
    assert (first.vendor.value, first.model, first.serial) == ("huawei", "910B3", "102369874500")
    assert first.memory_total_bytes == 64 * GIB and first.driver_version == "23.0.rc3"
    spec = match_accelerator(first.vendor, first.model, first.memory_total_bytes)
    assert spec.key == "huawei-ascend-910b3" and memory_consistent(spec, first.memory_total_bytes)
    usage = backend.usage()
    assert usage[2].utilization_percent == 98.0 and usage[2].power_w == 351.2
    assert usage[2].memory_used_bytes == 61234 * 2**20 and usage[2].uuid == devices[2].uuid


def test_memory_tells_910b4_apart(tmp_path: Path) -> None:
    install_npu_smi(tmp_path, "npu-smi-info-1x910b4.txt", npu_ids=range(0))
    (device,) = _backend(tmp_path).inventory().accelerators
    assert device.memory_total_bytes == 32 * GIB
    assert device.uuid is None  # board queries refused: identity unknown, never invented
    assert match_accelerator(device.vendor, "910B", device.memory_total_bytes).key == "huawei-ascend-910b4"


def test_device_in_error(tmp_path: Path) -> None:
    install_npu_smi(tmp_path, "npu-smi-info-device-error.txt")
    backend = _backend(tmp_path)
    devices = backend.inventory().accelerators
    assert [(d.index, d.error) for d in devices if d.error] == [(5, "npu-smi health Critical")]
    assert devices[2].error is None  # Warning leaves the NPU usable
    usage = backend.usage()
    assert usage[5].error == "npu-smi health Critical" and usage[5].power_w is None
    assert usage[4].error is None and usage[4].power_w == 93.6


def test_partial_output_keeps_complete_devices(tmp_path: Path) -> None:
    install_npu_smi(tmp_path, "npu-smi-info-partial.txt", npu_ids=range(3))
    devices = _backend(tmp_path).inventory().accelerators
    assert len(devices) == 3
    assert devices[0].error is None and devices[1].memory_total_bytes == 64 * GIB
    assert "part of this NPU" in devices[2].error


def test_driver_error_makes_backend_unavailable(tmp_path: Path) -> None:
    install_npu_smi(tmp_path, "npu-smi-info-driver-error.txt", npu_ids=range(0), code=255)
    result = _backend(tmp_path).inventory()
    assert not result.status.available and result.accelerators == []
    assert "exited 255" in result.status.reason and "dcmi module initialize failed" in result.status.reason


def test_tool_missing(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    result = backend.inventory()
    assert (result.status.available, result.status.device_count) == (False, 0)
    assert "npu-smi not found" in result.status.reason
    with pytest.raises(BackendUnavailable, match="not found"):
        backend.usage()


def test_tool_hanging_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "npu-smi.pid"
    install_hanging_tool(tmp_path, "npu-smi", pid_file)
    result = _backend(tmp_path, timeout_s=0.5).inventory()
    assert not result.status.available and "timed out" in result.status.reason
    for pid in map(int, pid_file.read_text().split()):  # the tool and the child it started
        assert _gone_soon(pid)


def _gone_soon(pid: int) -> bool:
    """Whether the process dies; SIGKILL to the orphaned child is delivered asynchronously, so allow it a moment."""
    deadline = time.monotonic() + 10.0
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _running(pid: int) -> bool:
    """Whether a process still runs (a killed orphan may linger as a zombie until init reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")
