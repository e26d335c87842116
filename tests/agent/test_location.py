"""Tests of the location collector: configured values only, never guessed."""

from __future__ import annotations

import pytest

from suanli.agent.collectors.base import CollectContext, NoData
from suanli.agent.collectors.location import LocationCollector


def test_configured_location_is_reported() -> None:
    context = CollectContext(settings={"location": {"province": "CN-SD", "datacenter": "jn-1", "rack": "A07",
                                                    "rack_unit": 12, "room": None}})
    assert LocationCollector().inventory(context) == {
        "location": {"province": "CN-SD", "datacenter": "jn-1", "rack": "A07", "rack_unit": 12}
    }


def test_no_location_is_no_data() -> None:
    with pytest.raises(NoData, match="no location configured"):
        LocationCollector().inventory(CollectContext(settings={"location": {"province": None}}))
    with pytest.raises(NoData):
        LocationCollector().inventory(CollectContext())
