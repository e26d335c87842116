"""The Hygon DCU backend: DCUs through `hy-smi` (or `rocm-smi` from the DTK) and their `--json` output."""

from __future__ import annotations

import os

from suanli.agent.backends.base import AcceleratorBackend, BackendInventory, BackendUnavailable, available, unavailable
from suanli.agent.backends.hygon_parse import UnparseableOutput, accelerators_from_smi, load_smi_json, usage_from_smi
from suanli.agent.backends.tool import ToolRunner
from suanli.schema import AcceleratorUsage

TOOLS = ("hy-smi", "rocm-smi")
# One call gives both inventory and usage fields; `--json` is the machine-readable form of each option.
ARGS = ("--showproductname", "--showuniqueid", "--showserial", "--showbus", "--showmeminfo", "vram",
        "--showuse", "--showpower", "--showmaxpower", "--showtemp", "--showdriverversion", "--json")


class HygonBackend(AcceleratorBackend):
    """Hygon DCUs; with only rocm-smi present, AMD GPUs it lists are reported with vendor 'other'."""

    name = "hygon"

    def __init__(self, runner: ToolRunner | None = None) -> None:
        self._runner = runner or ToolRunner()

    def _read(self) -> tuple[dict, str]:
        executable = self._runner.find(TOOLS)
        if executable is None:
            raise BackendUnavailable("neither hy-smi nor rocm-smi found (no Hygon DCU driver installed)")
        tool = os.path.basename(executable)
        try:
            return load_smi_json(self._runner.run(executable, ARGS)), tool
        except UnparseableOutput as exc:
            raise BackendUnavailable(f"{tool}: {exc}") from exc

    def inventory(self) -> BackendInventory:
        try:
            data, tool = self._read()
        except BackendUnavailable as exc:
            return unavailable(self.name, exc.reason)
        return available(self.name, accelerators_from_smi(data, tool))

    def usage(self) -> list[AcceleratorUsage]:
        data, _tool = self._read()
        return usage_from_smi(data)
