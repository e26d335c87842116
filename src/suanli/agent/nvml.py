"""The only importer of pynvml: NVML initialised once, lazily, with failures mapped to fields, devices and the backend."""

from __future__ import annotations

import atexit
import importlib
import sys
import threading
from types import ModuleType
from typing import Any, Callable

from suanli.schema import Accelerator, AcceleratorUsage, AcceleratorVendor

# Error codes (pynvml NVML_ERROR_* names) that mean "this device does not have that field".
_FIELD_ABSENT = ("NOT_SUPPORTED", "NO_PERMISSION", "FUNCTION_NOT_FOUND", "NOT_FOUND", "NO_DATA")
# Error codes that mean the driver or library is gone for every device, not just one.
_DRIVER_GONE = ("UNINITIALIZED", "DRIVER_NOT_LOADED", "LIBRARY_NOT_FOUND", "LIB_RM_VERSION_MISMATCH")


class NvmlUnavailable(Exception):
    """NVML cannot be used on this host (library missing, driver not loaded or gone); `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _DeviceFailed(Exception):
    """One device could not be read (fallen off the bus, ...): it is reported with this error."""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _cuda_version_text(version: int) -> str:
    """NVML's CUDA driver version integer (12040) as '12.4'."""
    return f"{version // 1000}.{(version % 1000) // 10}"


def nvml_library_missing() -> str | None:
    """Why libnvidia-ml cannot be loaded, or None when it can (then pynvml is worth importing).

    Loads it the way pynvml does, before pynvml is imported: on hosts without an NVIDIA driver the
    agent then never loads pynvml's ~2 MB of module objects for a library that is not there
    (bench/RESULTS.md, agent_footprint). The reason is the one pynvml would give.
    """
    if not sys.platform.startswith("linux"):
        return None  # pynvml's own search (Windows paths) decides there
    import ctypes  # only here: a host without the library needs nothing more of ctypes

    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return "NVML Shared Library Not Found"
    return None


class Nvml:
    """NVML for the accelerator collector: `inventory()` and `usage()` give contract models per GPU.

    `module` is the pynvml-like module to use (tests pass a fake); by default `module_name` (pynvml)
    is imported on first use. Initialisation is attempted once; its failure, or the driver vanishing later, makes
    every call raise `NvmlUnavailable` with the reason.
    """

    def __init__(self, module: ModuleType | Any | None = None, module_name: str = "pynvml") -> None:
        self._lib = module
        self._module_name = module_name
        self._lock = threading.Lock()
        self._initialised = False
        self._failure: str | None = None
        self._event_set: Any = None
        self._last_xid_by_uuid: dict[str, int] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def _start(self) -> None:
        """Import and initialise once; remember the failure so later cycles do not retry."""
        if self._initialised or self._failure is not None:
            return
        if self._lib is None and self._module_name == "pynvml" and (missing := nvml_library_missing()):
            self._failure = f"NVML initialisation failed: {missing} (no NVIDIA driver or GPU on this host?)"
            return
        try:
            if self._lib is None:
                self._lib = importlib.import_module(self._module_name)
        except ImportError as exc:
            self._failure = f"NVML library unavailable: the nvidia-ml-py package cannot be imported ({exc})"
            return
        try:
            self._lib.nvmlInit()
        except self._lib.NVMLError as exc:
            self._failure = f"NVML initialisation failed: {_text(exc)} (no NVIDIA driver or GPU on this host?)"
            return
        except OSError as exc:  # a broken libnvidia-ml.so can fail to load below pynvml's own checks
            self._failure = f"NVML library could not be loaded: {exc}"
            return
        self._initialised = True
        atexit.register(self.shutdown)
        self._register_xid_events()

    def _require(self) -> None:
        self._start()
        if self._failure is not None:
            raise NvmlUnavailable(self._failure)

    def shutdown(self) -> None:
        """Release NVML (and the XID event set); safe to call more than once."""
        with self._lock:
            if not self._initialised:
                return
            self._initialised = False
            self._failure = self._failure or "NVML was shut down"
            try:
                if self._event_set is not None:
                    self._lib.nvmlEventSetFree(self._event_set)
                self._lib.nvmlShutdown()
            except self._lib.NVMLError:
                pass  # the driver may already be gone; nothing is left to release then
            self._event_set = None

    def _driver_gone(self, exc: Exception) -> NvmlUnavailable:
        """Mark NVML unusable after the driver vanished mid-run; the agent must be restarted to see GPUs again."""
        self._failure = f"NVIDIA driver lost while running: {_text(exc)} (restart the agent once the driver is back)"
        return NvmlUnavailable(self._failure)

    # --- error classification --------------------------------------------------------------

    def _is(self, exc: Exception, names: tuple[str, ...]) -> bool:
        codes = {getattr(self._lib, f"NVML_ERROR_{name}", None) for name in names}
        return getattr(exc, "value", None) in codes

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """One device-level NVML call: a device failure raises _DeviceFailed, a driver failure NvmlUnavailable."""
        try:
            return fn(*args)
        except self._lib.NVMLError as exc:
            if self._is(exc, _DRIVER_GONE):
                raise self._driver_gone(exc) from exc
            raise _DeviceFailed(_text(exc)) from exc

    def _field(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Like `_call`, but a field the device does not support reads as None."""
        try:
            return self._call(fn, *args)
        except _DeviceFailed as exc:
            if self._is(exc.__cause__, _FIELD_ABSENT):
                return None
            raise

    def _system(self, fn: Callable[..., Any]) -> Any:
        """A host-wide NVML call: unsupported → None, anything else → NVML unavailable."""
        try:
            return fn()
        except self._lib.NVMLError as exc:
            if self._is(exc, _FIELD_ABSENT):
                return None
            raise self._driver_gone(exc) from exc

    def _handles(self) -> list[tuple[int, Any, str | None]]:
        """(index, handle or None, error) for every GPU the driver counts."""
        count = self._system(self._lib.nvmlDeviceGetCount) or 0
        result = []
        for index in range(count):
            try:
                result.append((index, self._call(self._lib.nvmlDeviceGetHandleByIndex, index), None))
            except _DeviceFailed as exc:
                result.append((index, None, str(exc)))
        return result

    # --- XID events ------------------------------------------------------------------------

    def _register_xid_events(self) -> None:
        """Subscribe every GPU to critical XID events; GPUs or drivers that refuse simply report no XID."""
        lib = self._lib
        try:
            self._event_set = lib.nvmlEventSetCreate()
        except lib.NVMLError:
            self._event_set = None
            return
        for _index, handle, _error in self._handles_quietly():
            try:
                lib.nvmlDeviceRegisterEvents(handle, lib.nvmlEventTypeXidCriticalError, self._event_set)
            except lib.NVMLError:
                continue  # e.g. NOT_SUPPORTED on GeForce boards: last_xid stays null for this GPU

    def _handles_quietly(self) -> list[tuple[int, Any, str | None]]:
        try:
            return [entry for entry in self._handles() if entry[1] is not None]
        except NvmlUnavailable:
            return []

    def _drain_xid_events(self) -> None:
        """Read the XID events queued since the last cycle without waiting (timeout 0 ms)."""
        if self._event_set is None:
            return
        lib = self._lib
        for _ in range(1024):  # bounded: a storm of events must not stall the usage cycle
            try:
                data = lib.nvmlEventSetWait(self._event_set, 0)
            except lib.NVMLError:
                return  # TIMEOUT: the queue is empty (any other error: try again next cycle)
            try:
                uuid = _text(lib.nvmlDeviceGetUUID(data.device))
            except lib.NVMLError:
                continue
            self._last_xid_by_uuid[uuid] = int(data.eventData)

    # --- what the collector asks -----------------------------------------------------------

    def driver_versions(self) -> tuple[str | None, str | None]:
        """(driver version, CUDA driver version) of this host, e.g. ('550.54.15', '12.4')."""
        with self._lock:
            self._require()
            driver = self._system(self._lib.nvmlSystemGetDriverVersion)
            cuda = self._system(self._lib.nvmlSystemGetCudaDriverVersion)
        return (None if driver is None else _text(driver), None if cuda is None else _cuda_version_text(cuda))

    def inventory(self) -> list[Accelerator]:
        """Every GPU's slow facts; a GPU that cannot be read is listed with its `error`."""
        driver, cuda = self.driver_versions()
        with self._lock:
            self._require()
            return [self._device_inventory(index, handle, error, driver, cuda) for index, handle, error in self._handles()]

    def _device_inventory(self, index: int, handle: Any, error: str | None, driver: str | None,
                          cuda: str | None) -> Accelerator:
        base = {"vendor": AcceleratorVendor.NVIDIA, "index": index, "driver_version": driver, "cuda_version": cuda}
        if handle is None:
            return Accelerator(**base, error=error)
        lib = self._lib
        try:
            memory = self._field(lib.nvmlDeviceGetMemoryInfo, handle)
            capability = self._field(lib.nvmlDeviceGetCudaComputeCapability, handle)
            limit_mw = self._field(lib.nvmlDeviceGetEnforcedPowerLimit, handle)
            mig = self._field(lib.nvmlDeviceGetMigMode, handle)
            pci = self._field(lib.nvmlDeviceGetPciInfo, handle)
            serial = self._field(lib.nvmlDeviceGetSerial, handle)
            return Accelerator(
                **base,
                model=_text(self._call(lib.nvmlDeviceGetName, handle)),
                uuid=_text(self._call(lib.nvmlDeviceGetUUID, handle)),
                serial=None if serial is None else _text(serial),
                pci_bus_id=None if pci is None else _text(pci.busId),
                memory_total_bytes=None if memory is None else int(memory.total),
                compute_capability=None if capability is None else f"{capability[0]}.{capability[1]}",
                power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
                mig_enabled=None if mig is None else bool(mig[0] == lib.NVML_DEVICE_MIG_ENABLE),
            )
        except _DeviceFailed as exc:
            return Accelerator(**base, error=str(exc))

    def usage(self) -> list[AcceleratorUsage]:
        """Every GPU's fast measurements; a GPU that cannot be read is listed with its `error`."""
        with self._lock:
            self._require()
            self._drain_xid_events()
            return [self._device_usage(index, handle, error) for index, handle, error in self._handles()]

    def _device_usage(self, index: int, handle: Any, error: str | None) -> AcceleratorUsage:
        if handle is None:
            return AcceleratorUsage(index=index, error=error)
        lib = self._lib
        try:
            uuid = _text(self._call(lib.nvmlDeviceGetUUID, handle))
            utilization = self._field(lib.nvmlDeviceGetUtilizationRates, handle)
            memory = self._field(lib.nvmlDeviceGetMemoryInfo, handle)
            power_mw = self._field(lib.nvmlDeviceGetPowerUsage, handle)
            return AcceleratorUsage(
                index=index,
                uuid=uuid,
                utilization_percent=None if utilization is None else float(utilization.gpu),
                memory_used_bytes=None if memory is None else int(memory.used),
                power_w=None if power_mw is None else power_mw / 1000.0,
                temperature_c=self._field(lib.nvmlDeviceGetTemperature, handle, lib.NVML_TEMPERATURE_GPU),
                ecc_corrected_errors=self._ecc(handle, lib.NVML_MEMORY_ERROR_TYPE_CORRECTED),
                ecc_uncorrected_errors=self._ecc(handle, lib.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
                retired_pages=self._retired(handle),
                last_xid=self._last_xid_by_uuid.get(uuid),
            )
        except _DeviceFailed as exc:
            return AcceleratorUsage(index=index, error=str(exc))

    def _ecc(self, handle: Any, error_type: int) -> int | None:
        """Volatile (since driver load) ECC count; None where ECC is off or unsupported."""
        return self._field(self._lib.nvmlDeviceGetTotalEccErrors, handle, error_type, self._lib.NVML_VOLATILE_ECC)

    def _retired(self, handle: Any) -> int | None:
        """Rows remapped (Ampere and later) or else pages retired (Volta and earlier) after memory errors."""
        lib = self._lib
        rows = self._field(lib.nvmlDeviceGetRemappedRows, handle)
        if rows is not None:
            return int(rows[0]) + int(rows[1])
        causes = (lib.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                  lib.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
        pages = [self._field(lib.nvmlDeviceGetRetiredPages, handle, cause) for cause in causes]
        if all(page_list is None for page_list in pages):
            return None
        return sum(len(page_list or ()) for page_list in pages)
