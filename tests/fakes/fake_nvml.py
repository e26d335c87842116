"""A fake of the pynvml functions `suanli.agent.nvml` uses, built from named scenarios (no monkeypatching)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

# The same codes pynvml defines, so the wrapper classifies fake errors exactly as real ones.
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_NO_DATA = 21
NVML_ERROR_UNKNOWN = 999
NVML_TEMPERATURE_GPU = 0
NVML_VOLATILE_ECC = 0
NVML_MEMORY_ERROR_TYPE_CORRECTED = 0
NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0
NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
nvmlEventTypeXidCriticalError = 0x8

_MESSAGES = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_TIMEOUT: "Timeout",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}
MIB = 2**20


class NVMLError(Exception):
    """Like pynvml.NVMLError: carries the NVML return code in `value`."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _MESSAGES.get(self.value, f"NVML Error with code {self.value}")


@dataclass
class FakeGpu:
    """One simulated GPU; `unsupported` names pynvml functions that answer NOT_SUPPORTED on it."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    serial: str = "1650123456789"
    bus_id: str = "00000000:18:00.0"
    memory_total_bytes: int = 81559 * MIB
    memory_used_bytes: int = 4 * 2**30
    compute_capability: tuple[int, int] = (9, 0)
    power_limit_mw: int = 700_000
    mig_mode: int = NVML_DEVICE_MIG_DISABLE
    utilization_percent: int = 37
    power_mw: int = 312_500
    temperature_c: int = 41
    ecc_corrected: int = 2
    ecc_uncorrected: int = 0
    remapped_rows: tuple[int, int] = (1, 0)
    retired_pages: dict[int, list[int]] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    # "handle": nvmlDeviceGetHandleByIndex fails; "fields": the handle works but every read fails.
    lost_at: str | None = None
    lost_code: int = NVML_ERROR_GPU_IS_LOST


class FakeNvml:
    """Module-like fake: pass an instance wherever `suanli.agent.nvml.Nvml` takes the pynvml module."""

    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu], *, init_error: int | None = None, driver: str = "550.54.15",
                 cuda: int = 12040) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.driver = driver
        self.cuda = cuda
        self.init_calls = 0
        self.shutdown_calls = 0
        self.initialised = False
        self.driver_error: int | None = None
        self.pending_events: list[tuple[int, int]] = []  # (gpu index, xid)
        self.registered: set[int] = set()
        for name, value in globals().items():
            if name.startswith(("NVML_", "nvmlEventType")):
                setattr(self, name, value)

    # --- scenario controls ---
    def lose_driver(self, code: int = NVML_ERROR_DRIVER_NOT_LOADED) -> None:
        """From now on every call fails as when the kernel module went away."""
        self.driver_error = code

    def raise_xid(self, index: int, xid: int) -> None:
        self.pending_events.append((index, xid))

    # --- pynvml surface ---
    def _check(self) -> None:
        if self.driver_error is not None:
            raise NVMLError(self.driver_error)
        if not self.initialised:
            raise NVMLError(NVML_ERROR_UNINITIALIZED)

    def _gpu(self, handle: int, function: str) -> FakeGpu:
        self._check()
        gpu = self.gpus[handle]
        if gpu.lost_at == "fields":
            raise NVMLError(gpu.lost_code)
        if function in gpu.unsupported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return gpu

    def nvmlInit(self) -> None:
        self.init_calls += 1
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shutdown_calls += 1
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check()
        return self.cuda

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._check()
        if self.gpus[index].lost_at == "handle":
            raise NVMLError(self.gpus[index].lost_code)
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return self._gpu(handle, "nvmlDeviceGetName").name.encode()  # older pynvml returns bytes

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetSerial(self, handle: int) -> str:
        return self._gpu(handle, "nvmlDeviceGetSerial").serial

    def nvmlDeviceGetPciInfo(self, handle: int) -> Any:
        return SimpleNamespace(busId=self._gpu(handle, "nvmlDeviceGetPciInfo").bus_id.encode())

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        return SimpleNamespace(total=gpu.memory_total_bytes, used=gpu.memory_used_bytes,
                               free=gpu.memory_total_bytes - gpu.memory_used_bytes)

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        return self._gpu(handle, "nvmlDeviceGetCudaComputeCapability").compute_capability

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetEnforcedPowerLimit").power_limit_mw

    def nvmlDeviceGetMigMode(self, handle: int) -> tuple[int, int]:
        mode = self._gpu(handle, "nvmlDeviceGetMigMode").mig_mode
        return (mode, mode)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return SimpleNamespace(gpu=self._gpu(handle, "nvmlDeviceGetUtilizationRates").utilization_percent, memory=0)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return self._gpu(handle, "nvmlDeviceGetPowerUsage").power_mw

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == NVML_TEMPERATURE_GPU
        return self._gpu(handle, "nvmlDeviceGetTemperature").temperature_c

    def nvmlDeviceGetTotalEccErrors(self, handle: int, error_type: int, counter_type: int) -> int:
        assert counter_type == NVML_VOLATILE_ECC
        gpu = self._gpu(handle, "nvmlDeviceGetTotalEccErrors")
        return gpu.ecc_corrected if error_type == NVML_MEMORY_ERROR_TYPE_CORRECTED else gpu.ecc_uncorrected

    def nvmlDeviceGetRemappedRows(self, handle: int) -> tuple[int, int, int, int]:
        gpu = self._gpu(handle, "nvmlDeviceGetRemappedRows")
        return (gpu.remapped_rows[0], gpu.remapped_rows[1], 0, 0)

    def nvmlDeviceGetRetiredPages(self, handle: int, cause: int) -> list[int]:
        return list(self._gpu(handle, "nvmlDeviceGetRetiredPages").retired_pages.get(cause, []))

    def nvmlEventSetCreate(self) -> str:
        self._check()
        return "event-set"

    def nvmlDeviceRegisterEvents(self, handle: int, event_types: int, event_set: str) -> None:
        self._gpu(handle, "nvmlDeviceRegisterEvents")
        assert event_types & nvmlEventTypeXidCriticalError
        self.registered.add(handle)

    def nvmlEventSetWait(self, event_set: str, timeout_ms: int) -> Any:
        self._check()
        while self.pending_events:
            index, xid = self.pending_events.pop(0)
            if index in self.registered:
                return SimpleNamespace(device=index, eventType=nvmlEventTypeXidCriticalError, eventData=xid)
        raise NVMLError(NVML_ERROR_TIMEOUT)

    def nvmlEventSetFree(self, event_set: str) -> None:
        return None


# --- scenarios -----------------------------------------------------------------------------


def h100_gpu(index: int) -> FakeGpu:
    """One H100 SXM5 of an HGX board, with a distinct UUID, serial and bus id."""
    return FakeGpu(uuid=f"GPU-5f1c2a3b-0000-4000-8000-{index:012x}", serial=f"16501234567{index:02d}",
                   bus_id=f"00000000:{0x18 + 0x10 * index:02X}:00.0")


def eight_h100() -> FakeNvml:
    """An 8 × H100 SXM5 node, everything supported."""
    return FakeNvml([h100_gpu(index) for index in range(8)])


def one_gpu_lost(lost_index: int = 3, lost_at: str = "handle", code: int = NVML_ERROR_GPU_IS_LOST) -> FakeNvml:
    """8 × H100 where one GPU fell off the bus (XID 79 style)."""
    gpus = [h100_gpu(index) for index in range(8)]
    gpus[lost_index].lost_at = lost_at
    gpus[lost_index].lost_code = code
    return FakeNvml(gpus)


def field_not_supported() -> FakeNvml:
    """A GeForce RTX 4090: no serial, no ECC, no remapped rows or retired pages, no MIG, no XID events."""
    gpu = FakeGpu(name="NVIDIA GeForce RTX 4090", uuid="GPU-0a0b0c0d-1111-2222-3333-444455556666",
                  memory_total_bytes=24564 * MIB, compute_capability=(8, 9), power_limit_mw=450_000,
                  unsupported={"nvmlDeviceGetSerial", "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetRemappedRows",
                               "nvmlDeviceGetRetiredPages", "nvmlDeviceGetMigMode", "nvmlDeviceRegisterEvents"})
    return FakeNvml([gpu])


def driver_not_loaded() -> FakeNvml:
    """libnvidia-ml is present but the kernel driver is not loaded."""
    return FakeNvml([], init_error=NVML_ERROR_DRIVER_NOT_LOADED)


def library_missing() -> FakeNvml:
    """No libnvidia-ml.so at all (a CPU-only server)."""
    return FakeNvml([], init_error=NVML_ERROR_LIBRARY_NOT_FOUND)


def unknown_model() -> FakeNvml:
    """A GPU whose name the catalog does not know."""
    gpu = FakeGpu(name="NVIDIA Prototype X1", uuid="GPU-deadbeef-0000-0000-0000-000000000001",
                  memory_total_bytes=100 * 2**30, compute_capability=(12, 0))
    return FakeNvml([gpu])
