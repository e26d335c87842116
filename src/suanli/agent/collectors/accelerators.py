"""Accelerators collector: every backend (NVML, Ascend, Hygon DCU, Cambricon) asked, each one's status reported."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from suanli.agent.backends.base import AcceleratorBackend, BackendInventory, BackendUnavailable, unavailable
from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext, Collector, NoData
from suanli.schema import Accelerator, AcceleratorUsage

log = logging.getLogger(__name__)

# Device indexes must be unique on a node (the control plane keys devices by index), yet two
# vendors both number from 0. Each backend gets its own block: index = local index + position × 256,
# NVML first so GPU indexes stay those nvidia-smi prints. 4 blocks fit the contract's 0..1024.
INDEX_BLOCK = 256


def default_backends() -> list[AcceleratorBackend]:
    """NVML, then the vendor-tool backends; nothing is loaded or run until first asked."""
    from suanli.agent.backends.registry import create_default_backends

    return create_default_backends()


class AcceleratorsCollector(Collector):
    """Accelerators from a list of backends (tests pass fakes); no driver or tool means zero devices and a reason."""

    name = "accelerators"

    def __init__(
        self,
        backends: Sequence[AcceleratorBackend] | None = None,
        backend_factory: Callable[[], list[AcceleratorBackend]] = default_backends,
    ) -> None:
        self._backends = list(backends) if backends is not None else None
        self._factory = backend_factory

    @property
    def backends(self) -> list[AcceleratorBackend]:
        if self._backends is None:
            self._backends = self._factory()
        return self._backends

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        accelerators: list[Accelerator] = []
        statuses = []
        for position, backend in enumerate(self.backends):
            result = _backend_inventory(backend)
            accelerators += _renumbered(result.accelerators, position)
            statuses.append(result.status)
        return {
            "accelerators": [a.model_dump() for a in accelerators],
            "accelerator_backends": [s.model_dump() for s in statuses],
            MESSAGE_KEY: _summary(statuses),
        }

    def usage(self, context: CollectContext) -> dict[str, Any]:
        samples: list[AcceleratorUsage] = []
        reasons = []
        for position, backend in enumerate(self.backends):
            try:
                samples += _renumbered(backend.usage(), position)
            except BackendUnavailable as exc:
                reasons.append(f"{backend.name}: {exc.reason}")
            except Exception as exc:  # one broken backend must not hide the others' devices
                log.warning("accelerator backend %s failed", backend.name, exc_info=True)
                reasons.append(f"{backend.name}: {type(exc).__name__}: {exc}")
        if reasons and len(reasons) == len(self.backends):
            raise NoData("no accelerator backend available; " + "; ".join(reasons))
        return {"accelerators": [sample.model_dump() for sample in samples]}

    def close(self) -> None:
        for backend in self._backends or []:
            try:
                backend.close()
            except Exception:
                log.warning("closing accelerator backend %s failed", backend.name, exc_info=True)


def _backend_inventory(backend: AcceleratorBackend) -> BackendInventory:
    try:
        return backend.inventory()
    except Exception as exc:  # a bug in one backend becomes its status, not a failed collector
        log.warning("accelerator backend %s failed", backend.name, exc_info=True)
        return unavailable(backend.name, f"backend failed: {type(exc).__name__}: {exc}")


def _renumbered(devices: Sequence[Any], position: int) -> list[Any]:
    """The devices with node-unique indexes (see INDEX_BLOCK); a local index past the block is dropped."""
    kept = []
    for device in devices:
        if device.index >= INDEX_BLOCK:
            log.warning("accelerator with local index %d dropped: more than %d devices", device.index, INDEX_BLOCK)
            continue
        kept.append(device.model_copy(update={"index": device.index + position * INDEX_BLOCK}))
    return kept


def _summary(statuses: Sequence[Any]) -> str:
    """One line for the collector status: what each backend saw or why it could not look."""
    parts = [f"{s.name}: {s.device_count} device(s)" if s.available else f"{s.name}: unavailable ({s.reason})"
             for s in statuses]
    return "; ".join(parts)
