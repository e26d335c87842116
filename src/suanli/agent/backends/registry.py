"""The accelerator backends the agent asks by default, in a fixed order (NVML first, so GPU indexes match nvidia-smi)."""

from __future__ import annotations

from suanli.agent.backends.ascend import AscendBackend
from suanli.agent.backends.base import AcceleratorBackend
from suanli.agent.backends.cambricon import CambriconBackend
from suanli.agent.backends.hygon import HygonBackend
from suanli.agent.backends.nvml import NvmlBackend


def create_default_backends() -> list[AcceleratorBackend]:
    """One instance of each backend; their constructors load and run nothing."""
    return [NvmlBackend(), AscendBackend(), HygonBackend(), CambriconBackend()]
