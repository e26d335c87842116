"""The accelerator backend interface: what the accelerators collector asks of each vendor's backend."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from suanli.schema import Accelerator, AcceleratorBackendStatus, AcceleratorUsage


class BackendUnavailable(Exception):
    """The backend cannot look at all (tool or library missing, driver gone, tool hung); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class BackendInventory:
    """What one backend saw: its devices and whether (and why not) it could look."""

    status: AcceleratorBackendStatus
    accelerators: list[Accelerator] = field(default_factory=list)


class AcceleratorBackend(ABC):
    """One vendor interface. Implementations never raise for a missing tool or driver: they say so in the status."""

    name: str

    @abstractmethod
    def inventory(self) -> BackendInventory:
        """The devices' slow facts and this backend's status."""

    @abstractmethod
    def usage(self) -> list[AcceleratorUsage]:
        """The devices' fast measurements; raises BackendUnavailable when the backend cannot look."""

    def close(self) -> None:
        """Release what the backend holds (library handles); called once at agent exit."""


def available(name: str, accelerators: list[Accelerator]) -> BackendInventory:
    """A backend that looked and found these devices (possibly none)."""
    status = AcceleratorBackendStatus(name=name, available=True, device_count=len(accelerators))
    return BackendInventory(status=status, accelerators=accelerators)


def unavailable(name: str, reason: str) -> BackendInventory:
    """A backend that could not look, with the reason operators will read."""
    return BackendInventory(status=AcceleratorBackendStatus(name=name, available=False, reason=reason[:2048]))
