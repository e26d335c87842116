"""The accelerator backends the agent asks by default, in a fixed order (NVML first)."""

from __future__ import annotations

from suanli.agent.backends.base import AcceleratorBackend
from suanli.agent.backends.nvml import NvmlBackend


def create_default_backends() -> list[AcceleratorBackend]:
    """One instance of each backend; their constructors load and run nothing."""
    return [NvmlBackend()]
