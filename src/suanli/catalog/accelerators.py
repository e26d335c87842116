"""Accelerator datasheet entries (peak dense FLOPS per precision) and explicit matching from vendor model names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

from suanli.schema import AcceleratorVendor

PRECISIONS = ("fp64", "fp64_tensor", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

# Drivers report a little less memory than the datasheet's nominal size: NVML subtracts what the
# driver reserves (about 0.5 % on HBM parts: an H100 80GB reports 79.6 GiB) and GDDR6 boards with ECC
# on give up 1/16 of it to ECC (an L40S 48GB reports 45.0 GiB, 93.7 %). 90 % below keeps all of these
# while still telling a 40 GB card from an 80 GB one; 2 % above allows rounding in the tools.
MEMORY_MIN_RATIO = 0.90
MEMORY_MAX_RATIO = 1.02

_DATA_FILE = "accelerators.json"
# Words the vendor tools put in front of the model that carry no model information.
_VENDOR_PREFIXES = {
    "nvidia": ("nvidia", "tesla"),
    "huawei": ("huawei", "ascend"),
    "hygon": ("hygon", "dcu"),
    "cambricon": ("cambricon",),
    "other": (),
}


@dataclass(frozen=True)
class DatasheetSource:
    """Where an entry's figures come from: the document's title and its address."""

    title: str
    url: str

    def __str__(self) -> str:
        return f"{self.title} <{self.url}>"


@dataclass(frozen=True, eq=False)
class AcceleratorSpec:
    """One accelerator model as its datasheet gives it; peak_flops are dense, in FLOPS (OPS for int8)."""

    key: str
    vendor: str
    model: str
    memory_bytes: int | None
    board_power_w: float | None
    peak_flops: Mapping[str, float | None]
    source: DatasheetSource
    note: str | None
    # The model names the vendor's tools print for this entry, as written in the data file.
    names: tuple[str, ...] = ()


def normalize_model_name(vendor: str, model_name: str) -> str:
    """Lower-case, separators folded to one space and vendor words dropped: 'NVIDIA A100-SXM4-80GB' → 'a100 sxm4 80gb'."""
    text = re.sub(r"[\s_\-]+", " ", model_name.strip().lower()).strip()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _VENDOR_PREFIXES.get(vendor, ()):
            # "Ascend910B3" and "Ascend 910B3" are the same chip: the prefix may run into a digit.
            match = re.match(rf"{prefix}(?: |(?=\d))", text)
            if match:
                text = text[match.end():]
                stripped = True
    return text


def _vendor_value(vendor: AcceleratorVendor | str) -> str:
    return str(getattr(vendor, "value", vendor)).strip().lower()


def _spec_from_entry(entry: dict[str, Any]) -> AcceleratorSpec:
    flops = entry["peak_flops"]
    if tuple(flops) != PRECISIONS:
        raise ValueError(f"catalog entry {entry['key']}: peak_flops must list exactly {PRECISIONS}")
    if any(value is not None and value < 0 for value in flops.values()):
        raise ValueError(f"catalog entry {entry['key']}: negative peak FLOPS")
    AcceleratorVendor(entry["vendor"])  # raises on a vendor the wire contract does not know
    source = entry["source"]
    if not source.get("title") or not source.get("url"):
        raise ValueError(f"catalog entry {entry['key']}: source needs a title and a url")
    return AcceleratorSpec(
        key=entry["key"],
        vendor=entry["vendor"],
        model=entry["model"],
        memory_bytes=entry["memory_bytes"],
        board_power_w=entry["board_power_w"],
        peak_flops=MappingProxyType({name: (None if v is None else float(v)) for name, v in flops.items()}),
        source=DatasheetSource(title=source["title"], url=source["url"]),
        note=entry.get("note"),
        names=tuple(entry.get("names", ())),
    )


@lru_cache(maxsize=1)
def accelerator_specs() -> tuple[AcceleratorSpec, ...]:
    """Every catalog entry, loaded once from the packaged data file and checked."""
    text = resources.files("suanli.catalog").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    specs = tuple(_spec_from_entry(entry) for entry in json.loads(text)["entries"])
    keys = [spec.key for spec in specs]
    if len(keys) != len(set(keys)):
        raise ValueError("catalog keys must be unique")
    return specs


@lru_cache(maxsize=1)
def _name_index() -> Mapping[tuple[str, str], tuple[AcceleratorSpec, ...]]:
    index: dict[tuple[str, str], list[AcceleratorSpec]] = {}
    for spec in accelerator_specs():
        for name in spec.names:
            specs = index.setdefault((spec.vendor, normalize_model_name(spec.vendor, name)), [])
            if spec not in specs:  # two spellings of one name must not make an entry ambiguous with itself
                specs.append(spec)
    return MappingProxyType({key: tuple(specs) for key, specs in index.items()})


def spec_by_key(key: str) -> AcceleratorSpec | None:
    """The entry with this catalog key, or None."""
    return next((spec for spec in accelerator_specs() if spec.key == key), None)


def memory_consistent(spec: AcceleratorSpec, memory_total_bytes: int | None) -> bool:
    """Whether the memory a device reports fits the datasheet size (MEMORY_MIN_RATIO..MEMORY_MAX_RATIO of it).

    False when either side is unknown: an unconfirmed size is not a consistent one.
    """
    if spec.memory_bytes is None or memory_total_bytes is None or spec.memory_bytes <= 0:
        return False
    ratio = memory_total_bytes / spec.memory_bytes
    return MEMORY_MIN_RATIO <= ratio <= MEMORY_MAX_RATIO


def match_accelerator(
    vendor: AcceleratorVendor | str, model_name: str, memory_total_bytes: int | None = None
) -> AcceleratorSpec | None:
    """The catalog entry for a model name as the vendor tool prints it, or None when unknown.

    Matching is exact on the normalized name (see `normalize_model_name`), never by similarity.
    When one name fits several entries (Ascend '910B'), the reported memory picks the single
    consistent one; with no memory, or several still fitting, the model stays unknown.
    """
    if not model_name:
        return None
    vendor_name = _vendor_value(vendor)
    candidates = _name_index().get((vendor_name, normalize_model_name(vendor_name, model_name)), ())
    if len(candidates) == 1:
        return candidates[0]
    fitting = [spec for spec in candidates if memory_consistent(spec, memory_total_bytes)]
    return fitting[0] if len(fitting) == 1 else None
