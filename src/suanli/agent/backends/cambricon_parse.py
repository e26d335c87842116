"""Pure parser of Cambricon `cnmon info` output: per-card 'Key : Value' lines, sub-keys indented under a section."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from suanli.schema import Accelerator, AcceleratorUsage, AcceleratorVendor

_CARD = re.compile(r"^Card\s*:?\s*(\d+)\s*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_ABSENT = {"", "n/a", "na", "unknown"}
_UNIT_BYTES = {"b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "kb": 2**10, "mb": 2**20, "gb": 2**30}


@dataclass
class CnmonCard:
    """One 'Card N' block: flat 'Section/Key' → value, plus lines that were not key/value (error text)."""

    index: int
    fields: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def parse_cnmon_info(text: str) -> list[CnmonCard]:
    """Cards in `cnmon info` order; an indented key is stored as 'Section/Key' under the last unindented section."""
    cards: list[CnmonCard] = []
    section = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        header = _CARD.match(line.strip())
        if header:
            cards.append(CnmonCard(index=int(header.group(1))))
            section = ""
            continue
        if not cards:
            continue  # banner lines before the first card
        key, sep, value = line.partition(":")
        if not sep:
            cards[-1].messages.append(line.strip())
            continue
        indented = line[: len(line) - len(line.lstrip())] != ""
        key, value = key.strip(), value.strip()
        if not indented:
            section = key if not value else ""
        name = f"{section}/{key}" if indented and section else key
        cards[-1].fields.setdefault(name, value)
    return cards


def _value(card: CnmonCard, *names: str) -> str | None:
    for name in names:
        value = card.fields.get(name)
        if value is not None and value.strip().lower() not in _ABSENT:
            return value.strip()
    return None


def _number(card: CnmonCard, *names: str) -> float | None:
    value = _value(card, *names)
    match = _NUMBER.search(value) if value else None
    return float(match.group()) if match else None


def _bytes(card: CnmonCard, *names: str) -> int | None:
    """'24576 MiB' → bytes; a value without a known unit is not guessed."""
    value = _value(card, *names)
    match = re.match(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$", value or "")
    if not match or match.group(2).lower() not in _UNIT_BYTES:
        return None
    return int(float(match.group(1)) * _UNIT_BYTES[match.group(2).lower()])


def _error(card: CnmonCard) -> str | None:
    """Error text cnmon printed inside the card's block, or a block without even a product name."""
    complaints = [m for m in card.messages if re.search(r"error|fail|fault", m, re.I)]
    # "Get card 2 information failed: CNDEV_ERROR_..." reads as a key/value line; ECC "... Error : 0" must not.
    complaints += [f"{k}: {v}" for k, v in card.fields.items() if k.lower() == "error" or re.search(r"fail", k, re.I)]
    if complaints:
        return "; ".join(complaints)[:500]
    if _value(card, "Product Name") is None:
        return "cnmon printed no product name for this card"
    return None


def _identity(card: CnmonCard) -> str | None:
    return _value(card, "UUID")


def accelerators_from_cnmon(cards: list[CnmonCard]) -> list[Accelerator]:
    return [
        Accelerator(
            vendor=AcceleratorVendor.CAMBRICON,
            index=card.index,
            model=_value(card, "Product Name"),
            uuid=_identity(card),
            serial=_value(card, "Board Serial Number", "Serial Number"),
            memory_total_bytes=_bytes(card, "Physical Memory Usage/Total"),
            power_limit_w=_number(card, "Power/Cap", "Power/Power Cap"),
            driver_version=_value(card, "Driver"),
            error=_error(card),
        )
        for card in cards
    ]


def usage_from_cnmon(cards: list[CnmonCard]) -> list[AcceleratorUsage]:
    return [
        AcceleratorUsage(
            index=card.index,
            uuid=_identity(card),
            utilization_percent=_number(card, "Utilization/MLU Average"),
            memory_used_bytes=_bytes(card, "Physical Memory Usage/Used"),
            power_w=_number(card, "Power/Usage"),
            temperature_c=_number(card, "Temperature/Board", "Temperature/Chip"),
            error=_error(card),
        )
        for card in cards
    ]
