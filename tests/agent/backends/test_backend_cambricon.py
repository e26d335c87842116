"""The Cambricon backend on `cnmon info` output, through a real stand-in cnmon."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.vendor_tools import FIXTURES, install_hanging_tool, install_tool

from suanli.agent.backends.base import BackendUnavailable
from suanli.agent.backends.cambricon import CambriconBackend
from suanli.agent.backends.cambricon_parse import parse_cnmon_info
from suanli.agent.backends.tool import ToolRunner
from suanli.catalog import match_accelerator, memory_consistent

CAMBRICON = FIXTURES / "cambricon"


def _backend(directory: Path, fixture: str | None = None, code: int = 0, timeout_s: float = 5.0) -> CambriconBackend:
    if fixture:
        install_tool(directory, "cnmon", {"info": (CAMBRICON / fixture, code)})
    return CambriconBackend(ToolRunner(search_path=str(directory), timeout_s=timeout_s))


def test_parse_sections_into_paths() -> None:
    (card, *_rest) = parse_cnmon_info((CAMBRICON / "cnmon-info-4xmlu370-x8.txt").read_text())
    assert card.fields["Physical Memory Usage/Total"] == "49152 MiB"
    assert card.fields["ECC/One Bit Error"] == "0"
    assert card.fields["Power/Cap"] == "250 W"


def test_multi_device_node(tmp_path: Path) -> None:
    backend = _backend(tmp_path, "cnmon-info-4xmlu370-x8.txt")
    result = backend.inventory()
    assert result.status.available and result.status.device_count == 4
    first = result.accelerators[0]
    assert (first.vendor.value, first.model, first.serial) == ("cambricon", "MLU370-X8", "SN/40C000000000")
    assert first.uuid == "MLU-30ab5f6c-0000-1a2b-3c4d-5e6f7a8b9c00" and first.driver_version == "v5.10.22"
    assert first.error is None and first.power_limit_w == 250.0
    spec = match_accelerator(first.vendor, first.model, first.memory_total_bytes)
    assert spec.key == "cambricon-mlu370-x8-48gb" and memory_consistent(spec, first.memory_total_bytes)
    busy = backend.usage()[2]
    assert (busy.utilization_percent, busy.power_w, busy.temperature_c) == (96.0, 231.0, 35.0)
    assert busy.memory_used_bytes == 40211 * 2**20


def test_device_in_error(tmp_path: Path) -> None:
    backend = _backend(tmp_path, "cnmon-info-device-error.txt")
    devices = backend.inventory().accelerators
    assert [d.index for d in devices] == [0, 1, 2, 3]
    assert [d.index for d in devices if d.error] == [2]
    assert "CNDEV_ERROR_DEVICE_FAULT" in devices[2].error
    usage = backend.usage()
    assert usage[1].power_w is None and usage[1].temperature_c is None and usage[1].error is None


def test_partial_output(tmp_path: Path) -> None:
    devices = _backend(tmp_path, "cnmon-info-partial.txt").inventory().accelerators
    assert len(devices) == 2 and devices[1].model == "MLU370-X8"
    assert devices[1].power_limit_w is None  # cut before the Power section


def test_driver_error(tmp_path: Path) -> None:
    result = _backend(tmp_path, "cnmon-error-no-driver.txt", code=1).inventory()
    assert not result.status.available and "not loaded" in result.status.reason


def test_tool_missing(tmp_path: Path) -> None:
    backend = _backend(tmp_path)
    assert "cnmon not found" in backend.inventory().status.reason
    with pytest.raises(BackendUnavailable):
        backend.usage()


def test_tool_hanging(tmp_path: Path) -> None:
    install_hanging_tool(tmp_path, "cnmon", tmp_path / "pids")
    result = _backend(tmp_path, timeout_s=0.5).inventory()
    assert not result.status.available and "timed out" in result.status.reason
