"""Running vendor tools: lookup on the search path (remembered), failures and output as BackendUnavailable."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes.vendor_tools import install_tool, text_file

from suanli.agent.backends.base import BackendUnavailable
from suanli.agent.backends.tool import ToolFailed, ToolRunner


def test_lookup_is_remembered_and_a_vanished_tool_fails_cleanly(tmp_path: Path) -> None:
    install_tool(tmp_path, "npu-smi", {"info": (text_file(tmp_path, "out.txt", "hello\n"), 0)})
    runner = ToolRunner(search_path=str(tmp_path))
    path = runner.find(["npu-smi"])
    assert path == str(tmp_path / "npu-smi")
    assert runner.run(path, ["info"]) == "hello\n"
    (tmp_path / "npu-smi").unlink()
    assert runner.find(["npu-smi"]) == path  # not looked up again every cycle
    with pytest.raises(BackendUnavailable, match="could not be started"):
        runner.run(path, ["info"])


def test_first_name_found_wins(tmp_path: Path) -> None:
    install_tool(tmp_path, "rocm-smi", {})
    runner = ToolRunner(search_path=str(tmp_path))
    assert runner.find(["hy-smi", "rocm-smi"]) == str(tmp_path / "rocm-smi")
    assert ToolRunner(search_path=str(tmp_path / "empty")).find(["hy-smi"]) is None


def test_non_zero_exit_quotes_the_complaint(tmp_path: Path) -> None:
    path = install_tool(tmp_path, "cnmon", {})
    with pytest.raises(ToolFailed, match="exited 2: unsupported arguments: info"):
        ToolRunner(search_path=str(tmp_path)).run(str(path), ["info"])
