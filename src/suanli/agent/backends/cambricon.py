"""The Cambricon backend: MLUs through `cnmon info`."""

from __future__ import annotations

from suanli.agent.backends.base import AcceleratorBackend, BackendInventory, BackendUnavailable, available, unavailable
from suanli.agent.backends.cambricon_parse import (
    CnmonCard,
    accelerators_from_cnmon,
    parse_cnmon_info,
    usage_from_cnmon,
)
from suanli.agent.backends.tool import ToolRunner
from suanli.schema import AcceleratorUsage

TOOL = "cnmon"


class CambriconBackend(AcceleratorBackend):
    """Cambricon MLU cards; `cnmon info` prints every card's identity and readings in one call."""

    name = "cambricon"

    def __init__(self, runner: ToolRunner | None = None) -> None:
        self._runner = runner or ToolRunner()

    def _read(self) -> list[CnmonCard]:
        executable = self._runner.find([TOOL])
        if executable is None:
            raise BackendUnavailable(f"{TOOL} not found (no Cambricon driver installed)")
        return parse_cnmon_info(self._runner.run(executable, ["info"]))

    def inventory(self) -> BackendInventory:
        try:
            cards = self._read()
        except BackendUnavailable as exc:
            return unavailable(self.name, exc.reason)
        return available(self.name, accelerators_from_cnmon(cards))

    def usage(self) -> list[AcceleratorUsage]:
        return usage_from_cnmon(self._read())
