"""Location: where staff say the node stands (province, data center, room, rack, unit), from config."""

from __future__ import annotations

from typing import Any

from suanli.agent.collectors.base import CollectContext, Collector, NoData

LOCATION_KEYS = ("province", "datacenter", "room", "rack", "rack_unit")


class LocationCollector(Collector):
    """Copies the configured location; the agent never guesses where it is."""

    name = "location"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        configured = context.settings.get("location") or {}
        location = {key: configured.get(key) for key in LOCATION_KEYS if configured.get(key) is not None}
        if not location:
            raise NoData("no location configured (set [location] in the agent config)")
        return {"location": location}
