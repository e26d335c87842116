"""The NVIDIA backend: the NVML wrapper seen through the accelerator backend interface."""

from __future__ import annotations

from suanli.agent.backends.base import AcceleratorBackend, BackendInventory, BackendUnavailable, available, unavailable
from suanli.agent.nvml import Nvml, NvmlUnavailable
from suanli.schema import AcceleratorUsage


class NvmlBackend(AcceleratorBackend):
    """NVIDIA GPUs through NVML; `nvml` is injectable so tests hand in a wrapper over the fake NVML."""

    name = "nvml"

    def __init__(self, nvml: Nvml | None = None) -> None:
        self._nvml = nvml if nvml is not None else Nvml()

    def inventory(self) -> BackendInventory:
        try:
            return available(self.name, self._nvml.inventory())
        except NvmlUnavailable as exc:
            return unavailable(self.name, exc.reason)

    def usage(self) -> list[AcceleratorUsage]:
        try:
            return self._nvml.usage()
        except NvmlUnavailable as exc:
            raise BackendUnavailable(exc.reason) from exc

    def close(self) -> None:
        self._nvml.shutdown()
