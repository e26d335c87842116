"""Usage bodies copied out of a request's text by position (`cut_bodies`) are exactly what a JSON
parser finds there, or the request takes the encoding way (None)."""

from __future__ import annotations

import json
import random

import pytest

from suanli.controlplane.store.nodes import NodeIdentity
from suanli.controlplane.store.reports import IngestItem, cut_bodies
from suanli.schema import InventoryReport, ReportBatch, Usage, UsageReport
from suanli.schema.usage import FilesystemUsage

from .factories import batch_json, inventory, inventory_report, usage, usage_report

NODE = "nd-0123456789abcdef0123"


def _parsed_bodies(text: str) -> list[object]:
    return [report["body"] for report in json.loads(text)["reports"]]


def _with_mount(mountpoint: str) -> Usage:
    return usage().model_copy(update={"filesystems": [
        FilesystemUsage(mountpoint=mountpoint, size_bytes=2, used_bytes=1)]})


def _cut(text: str) -> list[str] | None:
    reports = len(ReportBatch.model_validate_json(text).reports)  # the handler validates first
    return cut_bodies(text.encode(), reports)


@pytest.mark.parametrize("seed", range(20))
def test_cut_bodies_are_what_a_parser_finds_whatever_the_layout(seed: int) -> None:
    """Mixed inventory and usage reports, envelope keys in any order (body first, middle, last),
    any spacing: every cut parses to the parser's own body, in order."""
    rng = random.Random(seed)
    sent = []
    for seq in range(1, rng.randrange(2, 8)):
        if rng.random() < 0.3:
            sent.append(inventory_report(NODE, seq, inventory(hostname=f"h{seq}", gpus=rng.randrange(4))))
        else:
            sent.append(usage_report(NODE, seq, usage(tuple(float(rng.randrange(100)) for _ in range(rng.randrange(4))))))
    reports = []
    for report in json.loads(batch_json(*sent))["reports"]:
        keys = list(report)
        rng.shuffle(keys)
        reports.append({key: report[key] for key in keys})
    separators = rng.choice([(",", ":"), (", ", ": "), (" ,\n  ", " :\t")])
    text = json.dumps({"reports": reports}, separators=separators, indent=rng.choice([None, 2]))
    cut = _cut(text)
    assert cut is not None
    assert [json.loads(body) for body in cut] == _parsed_bodies(text)
    assert all(body == body.strip() and body.startswith("{") and body.endswith("}") for body in cut)


@pytest.mark.parametrize("mountpoint", ["/mnt/{odd", "/mnt/}]", "/mnt/{a}}{b[", "/mnt/body"])
def test_strings_inside_a_body_never_move_the_cut(mountpoint: str) -> None:
    """Only the scalars around the bodies are searched for brackets, so a body's own strings may
    hold any of them."""
    text = batch_json(usage_report(NODE, 1, _with_mount(mountpoint)), usage_report(NODE, 2, _with_mount(mountpoint)))
    cut = _cut(text)
    assert cut is not None and [json.loads(body) for body in cut] == _parsed_bodies(text)


_ENVELOPE = '{"reports": [{"schema": "v1", "node_id": "n", "seq": 1, "kind": "usage", "sent_at": "2026-12-06T00:00:00Z", '


@pytest.mark.parametrize(
    "text",
    [
        # a second body key: pydantic validated the last, the first is what a cut would find first
        _ENVELOPE + '"body": {"cpu_percent": 1, "memory_used_bytes": "x"}, '
        '"body": {"cpu_percent": 2, "memory_used_bytes": 1}}]}',
        # a string spelled "body" inside a body
        _ENVELOPE + '"body": {"cpu_percent": 1, "memory_used_bytes": 1, '
        '"filesystems": [{"mountpoint": "body", "size_bytes": 2, "used_bytes": 1}]}}]}',
        # any escape at all: "\\u0062ody" is "body" too
        _ENVELOPE + '"body": {"cpu_percent": 1, "memory_used_bytes": 1, '
        '"filesystems": [{"mountpoint": "/caf\\u00e9", "size_bytes": 2, "used_bytes": 1}]}}]}',
    ],
    ids=["duplicate-body-key", "body-spelled-inside", "escape"],
)
def test_what_positions_cannot_be_trusted_for_is_encoded_instead(text: str) -> None:
    batch = ReportBatch.model_validate_json(text)
    assert cut_bodies(text.encode(), len(batch.reports)) is None
    item = IngestItem.prepare(NodeIdentity("n", "active", "CN-SD", "dc"), batch.reports, text.encode())
    assert item.usage_json == [report.body.model_dump_json() for report in batch.reports]


def test_envelopes_hold_nothing_a_cut_could_be_misled_by() -> None:
    """What `cut_bodies` relies on: a batch holds only its reports, and a report outside its body
    holds only scalars (no object, array or brace can sit beside a body) and nothing unknown.
    A new envelope field that is not a plain string or number must change `cut_bodies` first."""
    assert set(ReportBatch.model_fields) == {"reports"}
    for model in (InventoryReport, UsageReport, ReportBatch):
        assert model.model_config["extra"] == "forbid"
    for model in (InventoryReport, UsageReport):
        schema = model.model_json_schema()
        for name, field in schema["properties"].items():
            if name != "body":
                assert field.get("type") in {"string", "integer"} and "$ref" not in field, (model, name)
    assert set(UsageReport.model_fields) == {"schema_version", "node_id", "seq", "sent_at", "kind", "body"}
