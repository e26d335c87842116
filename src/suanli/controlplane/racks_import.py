"""Parse rack registry imports (CSV, NetBox rack export JSON) into validated records and per-row errors.

CSV columns (header row required, order free): `datacenter, name, rated_kw, height_u, room, province`;
`room` and `province` may be empty (a province is needed only for a data center not yet known).

NetBox JSON: a list of rack objects, an API page `{"results": [...]}`, or
`{"racks": [...], "power_feeds": [...]}`. Fields mapped from each rack:
- `name` → name; `site.name` (or `site` as a string) → datacenter; `location.name` (NetBox ≥ 3.0,
  `group.name` before) → room; `u_height` → height_u;
- `custom_fields.province` → province;
- rated power: NetBox racks have no power field, so `custom_fields.rated_kw` (or `rated_power_kw`)
  is used when set; otherwise the sum over the rack's power feeds (matched by `rack.id`) of
  `available_power` in W, or `voltage × amperage × max_utilization % (× √3 for three-phase)`
  when that is absent. Feeds of type `redundant` are skipped: an A+B pair feeds one rack's rating once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

STANDARD_RACK_KW = 2.5
MAX_RATED_KW = 1000.0  # well beyond the densest liquid-cooled racks; larger is a typo (W for kW)
MAX_HEIGHT_U = 100
CSV_COLUMNS = ("datacenter", "name", "rated_kw", "height_u", "room", "province")
_PROVINCE = re.compile(r"^CN-[A-Z]{2}$")


def standard_racks(rated_kw: float) -> float:
    """Standard racks as national statistics count them: rated power over 2.5 kW."""
    return rated_kw / STANDARD_RACK_KW


@dataclass(frozen=True)
class RackRecord:
    """One rack to register or update, keyed by (datacenter, name)."""

    datacenter: str
    name: str
    rated_kw: float
    height_u: int
    room: str | None = None
    province: str | None = None
    row: int = field(default=0, compare=False)  # where it came from, for error messages


@dataclass(frozen=True)
class RowError:
    """Why one input row was refused: 1-based row (CSV line, or JSON list position) and field."""

    row: int
    field: str
    message: str


@dataclass
class ImportResult:
    racks: list[RackRecord] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class _RowInvalid(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def _text(value: Any, field_name: str, required: bool) -> str | None:
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            raise _RowInvalid(field_name, "required")
        return None
    if len(text) > 256:
        raise _RowInvalid(field_name, "longer than 256 characters")
    return text


def _rated_kw(value: Any) -> float:
    try:
        rated_kw = float(str(value).strip())
    except (TypeError, ValueError):
        raise _RowInvalid("rated_kw", f"not a number: {value!r}") from None
    if not math.isfinite(rated_kw) or rated_kw <= 0 or rated_kw > MAX_RATED_KW:
        raise _RowInvalid("rated_kw", f"must be > 0 and ≤ {MAX_RATED_KW:g} kW, got {rated_kw:g}")
    return rated_kw


def _height_u(value: Any) -> int:
    try:
        height_u = int(str(value).strip())
    except (TypeError, ValueError):
        raise _RowInvalid("height_u", f"not a whole number: {value!r}") from None
    if not 1 <= height_u <= MAX_HEIGHT_U:
        raise _RowInvalid("height_u", f"must be 1..{MAX_HEIGHT_U}, got {height_u}")
    return height_u


def _province(value: Any) -> str | None:
    province = _text(value, "province", required=False)
    if province is not None and not _PROVINCE.match(province):
        raise _RowInvalid("province", f"not an ISO 3166-2:CN code (CN-SD, ...): {province!r}")
    return province


def _record(raw: Mapping[str, Any], row: int) -> RackRecord:
    return RackRecord(
        row=row,
        datacenter=_text(raw.get("datacenter"), "datacenter", required=True) or "",
        name=_text(raw.get("name"), "name", required=True) or "",
        rated_kw=_rated_kw(raw.get("rated_kw")),
        height_u=_height_u(raw.get("height_u")),
        room=_text(raw.get("room"), "room", required=False),
        province=_province(raw.get("province")),
    )


def _collect(rows: Iterable[tuple[int, Mapping[str, Any] | _RowInvalid]]) -> ImportResult:
    result = ImportResult()
    seen: dict[tuple[str, str], int] = {}
    for row_number, raw in rows:
        try:
            if isinstance(raw, _RowInvalid):
                raise raw
            record = _record(raw, row_number)
        except _RowInvalid as invalid:
            result.errors.append(RowError(row_number, invalid.field, invalid.message))
            continue
        key = (record.datacenter, record.name)
        if key in seen:
            message = f"rack {record.name} of {record.datacenter} already on row {seen[key]}"
            result.errors.append(RowError(row_number, "name", message))
            continue
        seen[key] = row_number
        result.racks.append(record)
    return result


def parse_csv(text: str) -> ImportResult:
    """Racks from CSV text; the header decides column order, unknown columns are an error."""
    reader = csv.DictReader(io.StringIO(text))
    header = [column.strip() for column in reader.fieldnames or []]
    unknown = sorted(set(header) - set(CSV_COLUMNS))
    missing = sorted({"datacenter", "name", "rated_kw", "height_u"} - set(header))
    if unknown or missing:
        detail = "; ".join(filter(None, [f"unknown {unknown}" if unknown else "", f"missing {missing}" if missing else ""]))
        return ImportResult(errors=[RowError(1, "header", f"columns must be {', '.join(CSV_COLUMNS)}: {detail}")])
    reader.fieldnames = header

    def rows() -> Iterable[tuple[int, Mapping[str, Any]]]:
        for raw in reader:
            if not any((value or "").strip() for value in raw.values() if isinstance(value, str)):
                continue  # blank line
            yield reader.line_num, raw

    return _collect(rows())


def _name_of(value: Any) -> Any:
    return value.get("name") if isinstance(value, Mapping) else value


def feed_power_w(feed: Mapping[str, Any]) -> float:
    """Usable power of one NetBox power feed in W (NetBox's own `available_power` when present)."""
    if feed.get("available_power") is not None:
        return float(feed["available_power"])
    phase = feed.get("phase")
    phase = phase.get("value") if isinstance(phase, Mapping) else phase
    factor = math.sqrt(3) if phase == "three-phase" else 1.0
    utilisation = float(feed.get("max_utilization") or 100) / 100
    return float(feed["voltage"]) * float(feed["amperage"]) * utilisation * factor


def _feeds_by_rack_w(feeds: Iterable[Mapping[str, Any]]) -> dict[Any, float]:
    total_w: dict[Any, float] = {}
    for feed in feeds:
        feed_type = feed.get("type")
        feed_type = feed_type.get("value") if isinstance(feed_type, Mapping) else feed_type
        rack = feed.get("rack")
        rack_id = rack.get("id") if isinstance(rack, Mapping) else rack
        if feed_type == "redundant" or rack_id is None:
            continue
        total_w[rack_id] = total_w.get(rack_id, 0.0) + feed_power_w(feed)
    return total_w


def _netbox_row(rack: Mapping[str, Any], feeds_w: Mapping[Any, float]) -> Mapping[str, Any] | _RowInvalid:
    if not isinstance(rack, Mapping):
        return _RowInvalid("rack", "not a JSON object")
    custom = rack.get("custom_fields") or {}
    rated_kw = custom.get("rated_kw", custom.get("rated_power_kw"))
    if rated_kw is None and rack.get("id") in feeds_w:
        rated_kw = feeds_w[rack["id"]] / 1000
    if rated_kw is None:
        return _RowInvalid("rated_kw", "no custom_fields.rated_kw and no primary power feed for this rack")
    return {
        "datacenter": _name_of(rack.get("site")),
        "name": rack.get("name"),
        "rated_kw": rated_kw,
        "height_u": rack.get("u_height"),
        "room": _name_of(rack.get("location") or rack.get("group")),
        "province": custom.get("province"),
    }


def parse_netbox_json(text: str) -> ImportResult:
    """Racks from a NetBox rack export; see the module docstring for the field mapping."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return ImportResult(errors=[RowError(exc.lineno, "json", exc.msg)])
    feeds: list[Any] = []
    if isinstance(document, Mapping):
        feeds = document.get("power_feeds") or []
        document = document.get("racks", document.get("results"))
    if not isinstance(document, list):
        return ImportResult(errors=[RowError(1, "json", "expected a list of racks, results or racks")])
    feeds_w = _feeds_by_rack_w(feed for feed in feeds if isinstance(feed, Mapping))
    return _collect((index, _netbox_row(rack, feeds_w)) for index, rack in enumerate(document, start=1))


def parse_file_text(filename: str, text: str) -> ImportResult:
    """Pick the parser by content: JSON when the text starts with `[` or `{`, CSV otherwise."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if filename.lower().endswith(".json") or stripped[:1] in ("[", "{"):
        return parse_netbox_json(stripped)
    return parse_csv(stripped)
