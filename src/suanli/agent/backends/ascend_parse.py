"""Pure parsers of Huawei `npu-smi` output: the `npu-smi info` overview table and `-t board` key/value blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"Version:\s*(\S+)")
_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")
_PAIR = re.compile(r"(\d+)\s*/\s*(\d+)")
_BUS_ID = re.compile(r"^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$")


@dataclass(frozen=True)
class NpuRow:
    """One chip of the `npu-smi info` table; None where the tool printed NA or nothing."""

    npu_id: int
    chip_id: int | None
    logical_id: int | None  # the 'Device' column of products that print one
    name: str | None
    health: str | None
    power_w: float | None
    temperature_c: float | None
    bus_id: str | None
    aicore_percent: float | None
    memory_used_mib: int | None
    memory_total_mib: int | None
    hbm_used_mib: int | None
    hbm_total_mib: int | None
    complete: bool = True  # False when the second line of the chip's block is missing


@dataclass(frozen=True)
class NpuSmiInfo:
    driver_version: str | None
    rows: tuple[NpuRow, ...]


def _number(text: str | None) -> float | None:
    return float(text) if text is not None and _NUMBER.match(text) else None


def _integer(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _blocks(text: str) -> list[list[str]]:
    """The table's row groups: lines between '+---' / '+===' separators."""
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("+"):
            blocks.append([])
        elif stripped.startswith("|"):
            blocks[-1].append(stripped)
    return [block for block in blocks if block]


def _first_line(cells: list[str]) -> dict:
    head = cells[0].split()
    numbers = cells[2].split() if len(cells) > 2 else []
    return {
        "npu_id": int(head[0]),
        "name": " ".join(head[1:]) or None,
        "health": cells[1] if len(cells) > 1 and cells[1] not in ("", "NA") else None,
        "power_w": _number(numbers[0]) if numbers else None,
        "temperature_c": _number(numbers[1]) if len(numbers) > 1 else None,
    }


def _second_line(cells: list[str]) -> dict:
    head = cells[0].split()
    rest = cells[2] if len(cells) > 2 else ""
    pairs = [(int(used), int(total)) for used, total in _PAIR.findall(rest)]
    memory, hbm = (pairs + [(None, None), (None, None)])[:2]
    bus = cells[1] if len(cells) > 1 and _BUS_ID.match(cells[1]) else None
    return {
        "chip_id": _integer(head[0]) if head else None,
        "logical_id": _integer(head[1]) if len(head) > 1 else None,
        "bus_id": bus,
        "aicore_percent": _number(rest.split()[0]) if rest.split() else None,
        "memory_used_mib": memory[0], "memory_total_mib": memory[1],
        "hbm_used_mib": hbm[0], "hbm_total_mib": hbm[1],
    }


def _row(block: list[str]) -> NpuRow | None:
    first = _cells(block[0])
    if not first or not first[0].split() or not first[0].split()[0].isdigit():
        return None
    if len(block) < 2:
        empty = {"chip_id": None, "logical_id": None, "bus_id": None, "aicore_percent": None,
                 "memory_used_mib": None, "memory_total_mib": None, "hbm_used_mib": None, "hbm_total_mib": None}
        return NpuRow(**_first_line(first), **empty, complete=False)
    return NpuRow(**_first_line(first), **_second_line(_cells(block[1])))


def parse_npu_smi_info(text: str) -> NpuSmiInfo:
    """The chips in `npu-smi info` output, in table order; the process table that follows is ignored."""
    version = _VERSION.search(text)
    rows = []
    for block in _blocks(text):
        if any("Process" in line for line in block):
            break  # the per-process table; nothing about devices below
        row = _row(block)
        if row is not None:
            rows.append(row)
    return NpuSmiInfo(driver_version=version.group(1) if version else None, rows=tuple(rows))


def parse_key_values(text: str) -> dict[str, str]:
    """`npu-smi info -t <type> -i N [-c C]` output ('Key : Value' lines) as a dict; NA values are dropped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key and value and value.upper() not in ("NA", "N/A"):
            values.setdefault(key, value)
    return values
