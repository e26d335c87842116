"""Pure parsers of Hygon DCU tool output: `hy-smi --json` / `rocm-smi --json` (cardN → {field: value})."""

from __future__ import annotations

import json
import re
from typing import Any

from suanli.schema import Accelerator, AcceleratorUsage, AcceleratorVendor

MIB = 2**20
# hy-smi releases print JSON with commas missing between fields ("91.0""Average ...") and between
# cards ('} "card1"'); both are repaired before parsing. Nothing else is guessed.
_MISSING_FIELD_COMMA = re.compile(r'"(\s*)"(?=[^"\n]*"\s*:)')
_MISSING_CARD_COMMA = re.compile(r'}(\s*)"')
_CARD = re.compile(r"^card(\d+)$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_ABSENT = {"", "n/a", "na", "none", "unknown", "not supported"}
_HYGON_VENDOR_WORDS = ("hygon", "haiguang", "higon", "c-3000")

# Field names differ between rocm-smi releases and hy-smi (GPU/DCU/HCU, bytes or MiB); first found wins.
_USE = ("GPU use (%)", "DCU use (%)", "HCU use (%)")
_POWER = ("Average Graphics Package Power (W)", "Current Socket Graphics Package Power (W)")
_TEMPERATURE = ("Temperature (Sensor edge) (C)", "Temperature (Sensor junction) (C)", "Temperature (Sensor core) (C)")


class UnparseableOutput(ValueError):
    """The tool's output is not (repairable) JSON of cards."""


def load_smi_json(text: str) -> dict[str, dict[str, str]]:
    """The JSON object the tool printed, repaired for hy-smi's missing commas; empty field names dropped."""
    repaired = _MISSING_CARD_COMMA.sub(r"},\1" + '"', _MISSING_FIELD_COMMA.sub(r'",\1"', text.strip()))
    try:
        data = json.loads(repaired, object_pairs_hook=lambda pairs: {k: v for k, v in pairs if k != ""})
    except json.JSONDecodeError as exc:
        raise UnparseableOutput(f"output is not JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(data, dict) or not any(_CARD.match(key) for key in data):
        raise UnparseableOutput("output holds no cardN entries")
    return data


def _lookup(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    lowered = {str(key).strip().lower(): value for key, value in fields.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None and str(value).strip().lower() not in _ABSENT:
            return str(value).strip()
    return None


def _number(fields: dict[str, Any], names: tuple[str, ...]) -> float | None:
    value = _lookup(fields, names)
    match = _NUMBER.search(value) if value else None
    return float(match.group()) if match else None


def _bytes(fields: dict[str, Any], what: str) -> int | None:
    """VRAM total/used: rocm-smi prints '(B)', hy-smi '(MiB)'."""
    in_bytes = _number(fields, (f"VRAM Total {what} (B)",))
    if in_bytes is not None:
        return int(in_bytes)
    in_mib = _number(fields, (f"VRAM Total {what} (MiB)",))
    return None if in_mib is None else int(in_mib * MIB)


def _model(fields: dict[str, Any]) -> str | None:
    """'Card Series', with a bracketed marketing name preferred: 'Arcturus GL-XL [Instinct MI100]' → 'Instinct MI100'."""
    series = _lookup(fields, ("Card Series", "Card series"))
    if series and "[" in series and series.endswith("]"):
        return series[series.rindex("[") + 1 : -1].strip()
    return series


def _vendor(fields: dict[str, Any], tool: str) -> AcceleratorVendor:
    """hy-smi only sees Hygon DCUs; rocm-smi also sees AMD GPUs, which are not Hygon's."""
    vendor_text = (_lookup(fields, ("Card Vendor", "Card vendor")) or "").lower()
    if tool == "hy-smi" or any(word in vendor_text for word in _HYGON_VENDOR_WORDS):
        return AcceleratorVendor.HYGON
    return AcceleratorVendor.OTHER


def _cards(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    cards = [(int(m.group(1)), fields) for key, fields in data.items() if (m := _CARD.match(key))]
    return sorted((index, fields if isinstance(fields, dict) else {}) for index, fields in cards)


def _error(fields: dict[str, Any]) -> str | None:
    """A card the tool listed but could not read at all (every field N/A)."""
    readable = [v for v in fields.values() if str(v).strip().lower() not in _ABSENT]
    return None if readable else "the tool could not read this device (every field N/A)"


def _identity(fields: dict[str, Any]) -> str | None:
    unique = _lookup(fields, ("Unique ID",))
    return f"DCU-{unique}" if unique else None


def accelerators_from_smi(data: dict[str, Any], tool: str) -> list[Accelerator]:
    """One Accelerator per cardN entry."""
    driver = _lookup(data.get("system", {}) if isinstance(data.get("system"), dict) else {}, ("Driver version",))
    return [
        Accelerator(
            vendor=_vendor(fields, tool),
            index=index,
            model=_model(fields),
            uuid=_identity(fields),
            serial=_lookup(fields, ("Serial Number",)),
            pci_bus_id=_lookup(fields, ("PCI Bus",)),
            memory_total_bytes=_bytes(fields, "Memory"),
            power_limit_w=_number(fields, ("Max Graphics Package Power (W)",)),
            driver_version=driver,
            error=_error(fields),
        )
        for index, fields in _cards(data)
    ]


def usage_from_smi(data: dict[str, Any]) -> list[AcceleratorUsage]:
    """One AcceleratorUsage per cardN entry."""
    return [
        AcceleratorUsage(
            index=index,
            uuid=_identity(fields),
            utilization_percent=_number(fields, _USE),
            memory_used_bytes=_bytes(fields, "Used Memory"),
            power_w=_number(fields, _POWER),
            temperature_c=_number(fields, _TEMPERATURE),
            error=_error(fields),
        )
        for index, fields in _cards(data)
    ]
