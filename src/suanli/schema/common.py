"""Shared field types and the strict base model of the v1 wire contract."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = "v1"

# Sane maxima: generous for real hardware, tight enough that a rogue agent cannot claim
# absurd capacity or make the control plane store megabytes per field.
MAX_BYTES = 2**63 - 1  # signed 64-bit: what both SQLite and PostgreSQL store natively
MAX_MEMORY_BYTES = 256 * 2**40  # 256 TiB of RAM in one host
MAX_DEVICE_BYTES = 2 * 2**50  # 2 PiB in one block device or filesystem
MAX_ACCELERATOR_MEMORY_BYTES = 2 * 2**40  # 2 TiB on one accelerator
MAX_CORES = 8192
MAX_SOCKETS = 64
MAX_MHZ = 20_000
MAX_POWER_W = 20_000
MAX_SPEED_MBPS = 3_200_000  # 3.2 Tb/s, room beyond 1.6T Ethernet
MAX_LIST_ITEMS = 4096

Name = Annotated[str, Field(min_length=1, max_length=256)]
OptionalText = Annotated[str | None, Field(default=None, max_length=256)]
LongText = Annotated[str | None, Field(default=None, max_length=2048)]
NodeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# ISO 3166-2:CN subdivision codes (CN-SD, CN-JS, CN-BJ, ...; CN-TW, CN-HK, CN-MO included).
ProvinceCode = Annotated[str, Field(pattern=r"^CN-[A-Z]{2}$")]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_BYTES)]
MemoryBytes = Annotated[int, Field(ge=0, le=MAX_MEMORY_BYTES)]
DeviceBytes = Annotated[int, Field(ge=0, le=MAX_DEVICE_BYTES)]
AcceleratorBytes = Annotated[int, Field(ge=0, le=MAX_ACCELERATOR_MEMORY_BYTES)]
PowerWatts = Annotated[float, Field(ge=0.0, le=MAX_POWER_W)]
Celsius = Annotated[float, Field(ge=-100.0, le=300.0)]


def _require_timezone(value: datetime) -> datetime:
    """Reject naive datetimes: a report's time must be unambiguous across time zones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. 2026-11-21T08:00:00Z)")
    return value.astimezone(timezone.utc)


AwareDatetime = Annotated[datetime, AfterValidator(_require_timezone)]


# JSON cannot carry a raw NUL inside a string (control characters must be escaped), so a JSON
# document can hold U+0000 only as this escape. Bodies without it skip the walk entirely: the
# check used to be a Python validator on every model and cost ~40 µs per report at ingest.
_JSON_NUL_ESCAPE = b"\\u0000"


def _nul_path(value: object, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The location of the first text holding U+0000 inside `value`, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, BaseModel):
        for name, item in value.__dict__.items():
            found = _nul_path(item, (*path, name))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _nul_path(item, (*path, index))
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _nul_path(key, (*path, str(key))) if isinstance(key, str) else None
            found = found or _nul_path(item, (*path, str(key)))
            if found is not None:
                return found
    return None


def refuse_nul(model: "ContractModel") -> None:
    """Raise pydantic's ValidationError at the field path of any text holding U+0000.

    PostgreSQL cannot store U+0000 and no hardware name contains it; the error has the same
    shape as every other validation error, so handlers report it with its field path.
    """
    path = _nul_path(model, ())
    if path is not None:
        raise ValidationError.from_exception_data(
            type(model).__name__,
            [{"type": "value_error", "loc": path, "input": None,
              "ctx": {"error": ValueError("text must not contain U+0000")}}],
        )


class ContractModel(BaseModel):
    """Base of every wire model: unknown fields are errors, so typos never pass silently.

    Text holding U+0000 is refused by `model_validate` and `model_validate_json` (the two ways
    input enters); a JSON body is walked only when its bytes contain the `\\u0000` escape.
    """

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=False)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:  # type: ignore[override]
        model = super().model_validate(obj, **kwargs)
        refuse_nul(model)
        return model

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:  # type: ignore[override]
        model = super().model_validate_json(json_data, **kwargs)
        # Searched in place: copying a body to bytes first cost more than the search.
        escape = _JSON_NUL_ESCAPE.decode() if isinstance(json_data, str) else _JSON_NUL_ESCAPE
        if escape in json_data:
            refuse_nul(model)
        return model


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)
