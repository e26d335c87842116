"""Accelerator backends: one per vendor management interface (NVML, npu-smi, hy-smi/rocm-smi, cnmon)."""

from suanli.agent.backends.base import AcceleratorBackend, BackendInventory

__all__ = ["AcceleratorBackend", "BackendInventory"]
