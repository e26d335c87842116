"""The Huawei Ascend backend: NPUs through `npu-smi` (its overview table and the DCMI board fields it prints)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from suanli.agent.backends.ascend_parse import NpuRow, NpuSmiInfo, parse_key_values, parse_npu_smi_info
from suanli.agent.backends.base import AcceleratorBackend, BackendInventory, BackendUnavailable, available, unavailable
from suanli.agent.backends.tool import ToolRunner
from suanli.schema import Accelerator, AcceleratorUsage, AcceleratorVendor

TOOL = "npu-smi"
MIB = 2**20
# Board and chip queries run side by side: one npu-smi call takes a few hundred ms on a loaded
# node, and 16 of them in a row would not fit the collector's timeout on first inventory.
BOARD_QUERY_WORKERS = 8
# npu-smi health values: OK, Warning, Alarm, Critical, UNKNOWN. Warning is informational (a minor alarm
# such as a fan or a config note) and leaves the NPU usable; the others mean it cannot be relied on.
USABLE_HEALTH = ("OK", "Warning")


def _error(row: NpuRow) -> str | None:
    if not row.complete:
        return "npu-smi printed only part of this NPU's entry"
    if row.health is None:
        return "npu-smi gave no health for this NPU"
    if row.health not in USABLE_HEALTH:
        return f"npu-smi health {row.health}"
    return None


def _memory_bytes(total_mib: int | None) -> int | None:
    return total_mib * MIB if total_mib else None


def _identity(board: dict[str, str], chip: dict[str, str], chip_id: int | None) -> str | None:
    """A stable chip identity: the die id npu-smi reads through DCMI, else the board serial (+ chip)."""
    die = chip.get("VDie ID") or chip.get("Die ID")
    if die:
        return "ascend-die-" + re.sub(r"[\s,]+", "-", die.strip())
    serial = board.get("Serial Number")
    if serial:
        return serial if board.get("Chip Count", "1") == "1" else f"{serial}-chip{chip_id or 0}"
    return None


class AscendBackend(AcceleratorBackend):
    """Ascend NPUs. Board and chip facts (serial, die id) are read once per chip and kept: they do not change."""

    name = "ascend"

    def __init__(self, runner: ToolRunner | None = None) -> None:
        self._runner = runner or ToolRunner()
        self._facts: dict[tuple[int, int], tuple[dict[str, str], dict[str, str]]] = {}

    def _overview(self) -> tuple[str, NpuSmiInfo]:
        executable = self._runner.find([TOOL])
        if executable is None:
            raise BackendUnavailable(f"{TOOL} not found (no Ascend driver installed)")
        return executable, parse_npu_smi_info(self._runner.run(executable, ["info"]))

    def _query_facts(self, executable: str, key: tuple[int, int]) -> None:
        npu, chip_id = key
        try:
            board = parse_key_values(self._runner.run(executable, ["info", "-t", "board", "-i", str(npu)]))
            chip = parse_key_values(
                self._runner.run(executable, ["info", "-t", "board", "-i", str(npu), "-c", str(chip_id)]))
        except BackendUnavailable:
            return  # asked again at the next inventory; the overview still describes the NPU
        self._facts[key] = (board, chip)

    def _fetch_facts(self, executable: str, rows: tuple[NpuRow, ...]) -> None:
        """Read board and chip facts of chips not seen before (they never change while the agent runs)."""
        missing = {(row.npu_id, row.chip_id or 0) for row in rows if row.complete} - set(self._facts)
        if not missing:
            return
        with ThreadPoolExecutor(max_workers=min(BOARD_QUERY_WORKERS, len(missing))) as pool:
            list(pool.map(lambda key: self._query_facts(executable, key), sorted(missing)))

    def _facts_of(self, row: NpuRow) -> tuple[dict[str, str], dict[str, str]]:
        return self._facts.get((row.npu_id, row.chip_id or 0), ({}, {}))

    def inventory(self) -> BackendInventory:
        try:
            executable, info = self._overview()
        except BackendUnavailable as exc:
            return unavailable(self.name, exc.reason)
        self._fetch_facts(executable, info.rows)
        devices = []
        for position, row in enumerate(info.rows):
            board, chip = self._facts_of(row) if row.complete else ({}, {})
            devices.append(Accelerator(
                vendor=AcceleratorVendor.HUAWEI,
                index=_index(row, position),
                model=chip.get("Chip Name") or row.name,
                uuid=_identity(board, chip, row.chip_id),
                serial=board.get("Serial Number"),
                pci_bus_id=row.bus_id or chip.get("PCIe Bus Info") or board.get("PCIe Bus Info"),
                memory_total_bytes=_memory_bytes(row.hbm_total_mib or row.memory_total_mib),
                driver_version=info.driver_version or board.get("Software Version"),
                error=_error(row),
            ))
        return available(self.name, devices)

    def usage(self) -> list[AcceleratorUsage]:
        _executable, info = self._overview()
        samples = []
        for position, row in enumerate(info.rows):
            board, chip = self._facts_of(row)
            used_mib = row.hbm_used_mib if row.hbm_total_mib else row.memory_used_mib
            samples.append(AcceleratorUsage(
                index=_index(row, position),
                uuid=_identity(board, chip, row.chip_id),
                utilization_percent=row.aicore_percent,
                memory_used_bytes=None if used_mib is None else used_mib * MIB,
                power_w=row.power_w,
                temperature_c=row.temperature_c,
                error=_error(row),
            ))
        return samples


def _index(row: NpuRow, position: int) -> int:
    """The logical device id where npu-smi prints one, the NPU id on one-chip boards, else table order."""
    if row.logical_id is not None:
        return row.logical_id
    return row.npu_id if (row.chip_id or 0) == 0 else position
