"""The inventory hash: what changed in the hardware, ignoring fields that move on their own."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from suanli.schema import Inventory

# Fields that change without any change in the hardware: collector timings and states, filesystem
# fill levels, and the boot time (recomputed from uptime, it can wobble by a second).
_VOLATILE_FILESYSTEM_FIELDS = ("used_bytes", "available_bytes")


def stable_view(inventory: Inventory) -> dict[str, Any]:
    """The inventory as a JSON-ready dict without its volatile fields."""
    data = inventory.model_dump(mode="json")
    data.pop("collectors", None)
    data.get("host", {}).pop("boot_time", None)
    for filesystem in data.get("filesystems", []):
        for field in _VOLATILE_FILESYSTEM_FIELDS:
            filesystem.pop(field, None)
    return data


def inventory_hash(inventory: Inventory) -> str:
    """SHA-256 over the stable view, key order fixed, so equal hardware gives an equal hash."""
    canonical = json.dumps(stable_view(inventory), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
