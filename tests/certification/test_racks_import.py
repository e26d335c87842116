"""Rack registry imports: CSV and NetBox JSON parse into records, bad rows come back with row and field."""

from __future__ import annotations

import json
import math

import pytest

from suanli.controlplane.racks_import import (
    RackRecord,
    RowError,
    feed_power_w,
    parse_csv,
    parse_file_text,
    parse_netbox_json,
    standard_racks,
)

CSV_OK = """datacenter,name,rated_kw,height_u,room,province
jinan-1,R01,10,42,A,CN-SD
jinan-1,R02,7.5,47,,
"""


def test_csv_rows_become_records() -> None:
    result = parse_csv(CSV_OK)
    assert result.errors == []
    assert result.racks == [
        RackRecord("jinan-1", "R01", 10.0, 42, "A", "CN-SD"),
        RackRecord("jinan-1", "R02", 7.5, 47, None, None),
    ]


def test_standard_rack_is_two_and_a_half_kilowatts() -> None:
    assert standard_racks(10.0) == 4.0
    assert standard_racks(7.5) == 3.0


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ("jinan-1,R03,ten,42,,", "rated_kw", "not a number"),
        ("jinan-1,R03,0,42,,", "rated_kw", "must be > 0"),
        ("jinan-1,R03,5000,42,,", "rated_kw", "must be > 0"),
        ("jinan-1,R03,nan,42,,", "rated_kw", "must be > 0"),
        ("jinan-1,R03,5,0,,", "height_u", "must be 1..100"),
        ("jinan-1,R03,5,4.5,,", "height_u", "not a whole number"),
        (",R03,5,42,,", "datacenter", "required"),
        ("jinan-1,,5,42,,", "name", "required"),
        ("jinan-1,R03,5,42,,Shandong", "province", "ISO 3166-2:CN"),
        ("jinan-1,R01,5,42,,", "name", "already on row 2"),
    ],
)
def test_bad_csv_row_is_reported_and_others_kept(row: str, field: str, words: str) -> None:
    result = parse_csv(CSV_OK + row + "\n")
    assert len(result.racks) == 2
    (error,) = result.errors
    assert (error.row, error.field) == (4, field)
    assert words in error.message


def test_csv_header_must_name_known_columns() -> None:
    result = parse_csv("dc,name,rated_kw,height_u\nx,y,1,1\n")
    assert result.racks == []
    assert result.errors[0].field == "header"
    assert "unknown ['dc']" in result.errors[0].message and "missing ['datacenter']" in result.errors[0].message


def test_csv_skips_blank_lines_and_keeps_line_numbers() -> None:
    result = parse_csv(CSV_OK + "\njinan-1,R09,x,42,,\n")
    assert result.errors == [RowError(5, "rated_kw", "not a number: 'x'")]


def _netbox_rack(rack_id: int, name: str, **extra: object) -> dict[str, object]:
    rack = {
        "id": rack_id,
        "name": name,
        "site": {"id": 1, "name": "jinan-1", "slug": "jinan-1"},
        "location": {"id": 3, "name": "Hall A"},
        "u_height": 42,
        "custom_fields": {"province": "CN-SD"},
    }
    return rack | extra


def test_netbox_custom_field_gives_rated_power() -> None:
    rack = _netbox_rack(1, "R01", custom_fields={"rated_kw": 12, "province": "CN-SD"})
    result = parse_netbox_json(json.dumps({"count": 1, "results": [rack]}))
    assert result.racks == [RackRecord("jinan-1", "R01", 12.0, 42, "Hall A", "CN-SD")]


def test_netbox_power_feeds_are_summed_and_redundant_feeds_skipped() -> None:
    feeds = [
        {"rack": {"id": 1}, "type": {"value": "primary"}, "phase": {"value": "single-phase"}, "voltage": 230, "amperage": 32, "max_utilization": 80},
        {"rack": {"id": 1}, "type": {"value": "primary"}, "available_power": 5000},
        {"rack": {"id": 1}, "type": {"value": "redundant"}, "available_power": 99999},
    ]
    result = parse_netbox_json(json.dumps({"racks": [_netbox_rack(1, "R01")], "power_feeds": feeds}))
    (rack,) = result.racks
    assert rack.rated_kw == pytest.approx((230 * 32 * 0.8 + 5000) / 1000)


def test_three_phase_feed_counts_root_three() -> None:
    feed = {"phase": "three-phase", "voltage": 400, "amperage": 16, "max_utilization": 100}
    assert feed_power_w(feed) == pytest.approx(400 * 16 * math.sqrt(3))


def test_netbox_rack_without_power_is_an_error_with_its_position() -> None:
    document = [_netbox_rack(1, "R01", custom_fields={"rated_kw": 5}), _netbox_rack(2, "R02"), "junk"]
    result = parse_netbox_json(json.dumps(document))
    assert [r.name for r in result.racks] == ["R01"]
    assert [(e.row, e.field) for e in result.errors] == [(2, "rated_kw"), (3, "rack")]


def test_broken_json_is_one_error() -> None:
    result = parse_netbox_json('{"racks": [')
    assert result.racks == [] and result.errors[0].field == "json"


def test_format_is_chosen_by_content() -> None:
    assert len(parse_file_text("racks.txt", CSV_OK).racks) == 2
    netbox = json.dumps([_netbox_rack(1, "R01", custom_fields={"rated_kw": 5})])
    assert len(parse_file_text("export", netbox).racks) == 1
