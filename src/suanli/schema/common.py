"""Shared field types and the strict base model of the v1 wire contract."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(isinstance(item, str) and "\x00" in item for item in value)
    return False


class ContractModel(BaseModel):
    """Base of every wire model: unknown fields are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=False)

    @model_validator(mode="after")
    def _no_nul_characters(self) -> "ContractModel":
        """U+0000 in text is refused: PostgreSQL cannot store it, and no hardware name contains it."""
        for name, value in self.__dict__.items():
            if _has_nul(value):
                raise ValueError(f"{name}: text must not contain U+0000")
        return self


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)
