"""The NVML wrapper against the fake NVML scenarios: fields, lost GPUs, missing driver, init once."""

from __future__ import annotations

import pytest
from fakes.fake_nvml import (
    NVML_ERROR_UNKNOWN,
    FakeNvml,
    driver_not_loaded,
    eight_h100,
    field_not_supported,
    library_missing,
    one_gpu_lost,
    unknown_model,
)

from suanli.agent.nvml import Nvml, NvmlUnavailable
from suanli.schema import AcceleratorVendor


def test_eight_h100_inventory() -> None:
    nvml = Nvml(eight_h100())
    gpus = nvml.inventory()
    assert [gpu.index for gpu in gpus] == list(range(8))
    assert len({gpu.uuid for gpu in gpus}) == 8
    first = gpus[0]
    assert first.vendor is AcceleratorVendor.NVIDIA
    assert first.model == "NVIDIA H100 80GB HBM3"
    assert first.uuid == "GPU-5f1c2a3b-0000-4000-8000-000000000000"
    assert first.serial == "1650123456700"
    assert first.pci_bus_id == "00000000:18:00.0"
    assert first.memory_total_bytes == 81559 * 2**20
    assert first.compute_capability == "9.0"
    assert first.power_limit_w == 700.0
    assert first.mig_enabled is False
    assert first.driver_version == "550.54.15"
    assert first.cuda_version == "12.4"
    assert all(gpu.error is None for gpu in gpus)


def test_eight_h100_usage() -> None:
    nvml = Nvml(eight_h100())
    usage = nvml.usage()
    assert len(usage) == 8
    sample = usage[5]
    assert sample.uuid == "GPU-5f1c2a3b-0000-4000-8000-000000000005"
    assert sample.utilization_percent == 37.0
    assert sample.memory_used_bytes == 4 * 2**30
    assert sample.power_w == 312.5
    assert sample.temperature_c == 41
    assert (sample.ecc_corrected_errors, sample.ecc_uncorrected_errors) == (2, 0)
    assert sample.retired_pages == 1  # one remapped row
    assert sample.last_xid is None


def test_xid_events_become_last_xid() -> None:
    fake = eight_h100()
    nvml = Nvml(fake)
    nvml.usage()
    fake.raise_xid(2, 48)
    fake.raise_xid(2, 63)
    usage = nvml.usage()
    assert usage[2].last_xid == 63
    assert usage[1].last_xid is None
    assert nvml.usage()[2].last_xid == 63  # the last one seen stays reported


@pytest.mark.parametrize("lost_at", ["handle", "fields"])
def test_one_gpu_lost_is_reported_with_its_error(lost_at: str) -> None:
    nvml = Nvml(one_gpu_lost(lost_index=3, lost_at=lost_at))
    gpus = nvml.inventory()
    assert len(gpus) == 8
    assert gpus[3].error == "GPU is lost"
    assert gpus[3].uuid is None and gpus[3].model is None
    assert [gpu.index for gpu in gpus if gpu.error is None] == [0, 1, 2, 4, 5, 6, 7]
    usage = nvml.usage()
    assert usage[3].error == "GPU is lost" and usage[3].utilization_percent is None
    assert usage[4].utilization_percent == 37.0


def test_unknown_error_on_a_handle_is_a_device_error() -> None:
    gpus = Nvml(one_gpu_lost(lost_index=0, code=NVML_ERROR_UNKNOWN)).inventory()
    assert gpus[0].error == "Unknown Error"
    assert gpus[1].error is None


def test_unsupported_fields_are_null() -> None:
    nvml = Nvml(field_not_supported())
    (gpu,) = nvml.inventory()
    assert gpu.model == "NVIDIA GeForce RTX 4090"
    assert gpu.serial is None and gpu.mig_enabled is None
    assert gpu.memory_total_bytes == 24564 * 2**20 and gpu.error is None
    (usage,) = nvml.usage()
    assert usage.ecc_corrected_errors is None and usage.ecc_uncorrected_errors is None
    assert usage.retired_pages is None and usage.last_xid is None
    assert usage.power_w == 312.5 and usage.error is None


def test_retired_pages_when_rows_are_not_remapped() -> None:
    fake = eight_h100()
    gpu = fake.gpus[0]
    gpu.unsupported.add("nvmlDeviceGetRemappedRows")
    gpu.retired_pages = {0: [0x1000, 0x2000], 1: [0x3000]}
    assert Nvml(fake).usage()[0].retired_pages == 3


@pytest.mark.parametrize(("scenario", "words"), [(driver_not_loaded, "Driver Not Loaded"),
                                                  (library_missing, "Library Not Found")])
def test_no_driver_raises_unavailable_and_init_is_attempted_once(scenario, words: str) -> None:
    fake: FakeNvml = scenario()
    nvml = Nvml(fake)
    for _ in range(3):
        with pytest.raises(NvmlUnavailable) as caught:
            nvml.inventory()
        assert words in caught.value.reason
        with pytest.raises(NvmlUnavailable):
            nvml.usage()
    assert fake.init_calls == 1


def test_missing_python_package_is_unavailable() -> None:
    nvml = Nvml(module_name="suanli_test_no_such_nvml_module")
    with pytest.raises(NvmlUnavailable, match="cannot be imported"):
        nvml.inventory()


def test_driver_gone_mid_run_makes_nvml_unavailable() -> None:
    fake = eight_h100()
    nvml = Nvml(fake)
    assert len(nvml.inventory()) == 8
    fake.lose_driver()
    with pytest.raises(NvmlUnavailable, match="driver lost"):
        nvml.usage()
    with pytest.raises(NvmlUnavailable, match="driver lost"):
        nvml.inventory()
    assert fake.init_calls == 1


def test_init_is_lazy_and_shutdown_releases_once() -> None:
    fake = eight_h100()
    nvml = Nvml(fake)
    assert fake.init_calls == 0
    nvml.usage()
    nvml.inventory()
    assert fake.init_calls == 1
    nvml.shutdown()
    nvml.shutdown()
    assert fake.shutdown_calls == 1


def test_unknown_model_is_collected_as_printed() -> None:
    (gpu,) = Nvml(unknown_model()).inventory()
    assert gpu.model == "NVIDIA Prototype X1" and gpu.compute_capability == "12.0"


def test_missing_nvml_library_leaves_pynvml_unimported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libnvidia-ml.so.1 the default wrapper reports it and never imports pynvml."""
    import ctypes

    import suanli.agent.nvml as nvml_module

    def no_library(name: str) -> None:
        raise OSError(f"{name}: cannot open shared object file")

    imported: list[str] = []
    monkeypatch.setattr(ctypes, "CDLL", no_library)
    monkeypatch.setattr(nvml_module.importlib, "import_module", imported.append)
    nvml = Nvml()
    with pytest.raises(NvmlUnavailable, match="NVML Shared Library Not Found"):
        nvml.inventory()
    assert imported == []
