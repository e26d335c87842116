"""Host identity: hostname, machine-id, DMI product identity, OS, kernel, architecture, boot time."""

from __future__ import annotations

import platform
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suanli.agent.collectors.base import CollectContext, Collector
from suanli.agent.sysfs import read_line, read_text

DMI_FIELDS = {
    "dmi_product_uuid": "product_uuid",
    "dmi_product_serial": "product_serial",
    "dmi_product_name": "product_name",
    "dmi_sys_vendor": "sys_vendor",
}
# Firmware placeholders that many boards ship with: reporting them as identities would make
# thousands of unrelated servers look like one machine to the certification's duplicate check.
_DMI_PLACEHOLDERS = {
    "", "none", "n/a", "na", "not specified", "not applicable", "not available", "default string",
    "to be filled by o.e.m.", "to be filled by oem", "system serial number", "system product name",
    "system manufacturer", "0123456789", "123456789", "00000000", "xxxxxxxx", "unknown",
}
_MACHINE_ID = re.compile(r"^[0-9a-f]{32}$")
_SHELL_ESCAPE = re.compile(r"\\([\\$\"'`])")


def parse_machine_id(text: str | None) -> str | None:
    """The 32-hex-digit machine id, or None for an empty or malformed file (first boot, images)."""
    value = (text or "").strip().lower()
    return value if _MACHINE_ID.match(value) else None


def clean_dmi_value(text: str | None) -> str | None:
    """A DMI string, or None when it is a firmware placeholder or an all-zero/all-F UUID."""
    if text is None:
        return None
    value = text.strip()
    if value.lower() in _DMI_PLACEHOLDERS:
        return None
    hex_digits = value.replace("-", "").lower()
    if set(hex_digits) in ({"0"}, {"f"}):
        return None
    return value[:256]


def _unquote(value: str) -> str:
    """An os-release(5) value: optionally quoted, with shell-style backslash escapes inside quotes."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return _SHELL_ESCAPE.sub(r"\1", value[1:-1])
    return value


def parse_os_release(text: str) -> str | None:
    """PRETTY_NAME (else NAME VERSION) from os-release(5) `KEY="value"` lines."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or key.strip().startswith("#"):
            continue
        values[key.strip()] = _unquote(raw.strip())
    if values.get("PRETTY_NAME"):
        return values["PRETTY_NAME"]
    joined = " ".join(v for v in (values.get("NAME"), values.get("VERSION")) if v)
    return joined or None


def parse_boot_time(stat_text: str) -> datetime | None:
    """Boot time from the `btime` line (seconds since the epoch) of /proc/stat."""
    for line in stat_text.splitlines():
        if line.startswith("btime "):
            return datetime.fromtimestamp(int(line.split()[1]), tz=timezone.utc)
    return None


def read_dmi(sys_root: Path) -> dict[str, str | None]:
    """DMI identity fields; root-only files (product_serial, product_uuid) read as None."""
    base = sys_root / "class" / "dmi" / "id"
    fields = {key: clean_dmi_value(read_line(base / name)) for key, name in DMI_FIELDS.items()}
    if fields["dmi_product_uuid"]:
        fields["dmi_product_uuid"] = fields["dmi_product_uuid"].lower()
    return fields


def read_hostname(proc_root: Path, etc_root: Path) -> str:
    """The kernel's hostname, else /etc/hostname, else the name Python sees."""
    name = read_line(proc_root / "sys" / "kernel" / "hostname") or read_line(etc_root / "hostname")
    return name or platform.node() or "localhost"


def read_host(context: CollectContext) -> dict[str, Any]:
    """All host identity fields from the context's /proc, /sys and /etc roots."""
    proc, etc = context.proc_root, context.etc_root
    stat_text = read_text(proc / "stat") or ""
    os_release = read_text(etc / "os-release")
    return {
        "hostname": read_hostname(proc, etc),
        "machine_id": parse_machine_id(read_text(etc / "machine-id")),
        **read_dmi(context.sys_root),
        "os_name": parse_os_release(os_release) if os_release else None,
        "kernel_release": read_line(proc / "sys" / "kernel" / "osrelease"),
        # /proc/sys/kernel/arch exists on kernels >= 6.1; older ones: what this process runs on.
        "architecture": read_line(proc / "sys" / "kernel" / "arch") or platform.machine() or None,
        "boot_time": parse_boot_time(stat_text),
    }


class HostCollector(Collector):
    """Who this machine is: the identities certification checks for duplicates."""

    name = "host"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {"host": read_host(context)}
