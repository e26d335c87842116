"""Hostile input: every case gets a 4xx with a stable code and leaves the database exactly as it was."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from suanli.controlplane.errors import ERROR_CODES
from suanli.schema import utc_now

from .conftest import Callers, small_inventory, snapshot
from .counts import record

MAX_BODY_BYTES = 256 * 1024
MAX_BATCH = 50
JSON = {"Content-Type": "application/json"}


def usage_report(node_id: str, seq: int = 1) -> dict[str, Any]:
    return {"schema": "v1", "node_id": node_id, "seq": seq, "sent_at": utc_now().isoformat(), "kind": "usage",
            "body": {"cpu_percent": 10.0, "memory_used_bytes": 2**30}}


def inventory_report(node_id: str, seq: int = 1) -> dict[str, Any]:
    return {"schema": "v1", "node_id": node_id, "seq": seq, "sent_at": utc_now().isoformat(),
            "kind": "inventory", "body": small_inventory("gpu-a").model_dump(mode="json")}


def batch(*reports: dict[str, Any]) -> bytes:
    return json.dumps({"reports": list(reports)}).encode()


def with_inventory(node_id: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    report = inventory_report(node_id)
    change(report["body"])
    return batch(report)


def with_usage(node_id: str, change: Callable[[dict[str, Any]], None]) -> bytes:
    report = usage_report(node_id)
    change(report)
    return batch(report)


def nested(depth: int) -> bytes:
    return b'{"reports":' + b"[" * depth + b"]" * depth + b"}"


@dataclass
class Hostile:
    name: str
    body: Callable[[str], bytes]  # built from the caller's node id
    status: int
    code: str
    path: str = "/v1/reports"
    headers: dict[str, str] | None = None  # replaces the JSON content type when set


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets a dotted path (list indexes as numbers) to `value`."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value

    return change


def report_cases() -> list[Hostile]:
    """Bodies of `POST /v1/reports`, each wrong in one way."""
    inv, use = with_inventory, with_usage
    return [
        Hostile("body over max_body_bytes", lambda n: b" " * MAX_BODY_BYTES + batch(usage_report(n)), 413,
                "body_too_large"),
        Hostile("more reports than max_batch_reports", lambda n: batch(*[usage_report(n, s) for s in range(1, 60)]),
                413, "batch_too_large"),
        Hostile("more reports than the schema allows", lambda n: batch(*[usage_report(n, s) for s in range(1, 502)]),
                413, "batch_too_large"),
        Hostile("empty batch", lambda n: b'{"reports":[]}', 422, "validation_failed"),
        Hostile("not JSON", lambda n: b"reports=1", 400, "invalid_json"),
        Hostile("truncated JSON", lambda n: batch(usage_report(n))[:-3], 400, "invalid_json"),
        Hostile("non-UTF-8 bytes", lambda n: b'{"reports":[{"schema":"v1","node_id":"\xff\xfe"}]}', 400,
                "invalid_json"),
        Hostile("UTF-16 body", lambda n: batch(usage_report(n)).decode().encode("utf-16"), 400, "invalid_json"),
        Hostile("JSON nested 100 000 deep", lambda n: nested(100_000), 400, "invalid_json"),
        Hostile("JSON nested 5 000 deep", lambda n: nested(5_000), 400, "invalid_json"),
        Hostile("top-level array", lambda n: b"[]", 422, "validation_failed"),
        Hostile("unknown schema version", lambda n: use(n, _set("schema", "v2")), 422, "validation_failed"),
        Hostile("unknown kind", lambda n: use(n, _set("kind", "firmware")), 422, "validation_failed"),
        Hostile("unknown field", lambda n: use(n, _set("body.flops_claimed", 1e30)), 422, "validation_failed"),
        Hostile("another node's id", lambda n: use(n, _set("node_id", "nd-someone-else")), 403, "node_mismatch"),
        Hostile("seq 0", lambda n: use(n, _set("seq", 0)), 422, "validation_failed"),
        Hostile("negative seq", lambda n: use(n, _set("seq", -5)), 422, "validation_failed"),
        Hostile("seq above 2**62", lambda n: use(n, _set("seq", 2**63)), 422, "validation_failed"),
        Hostile("seq as a 400-digit number", lambda n: use(n, _set("seq", 10**400)), 422, "validation_failed"),
        Hostile("sent_at without time zone", lambda n: use(n, _set("sent_at", "2026-11-21T08:00:00")), 422,
                "validation_failed"),
        Hostile("sent_at not a time", lambda n: use(n, _set("sent_at", "yesterday")), 422, "validation_failed"),
        Hostile("sent_at a year ahead", lambda n: use(n, _set("sent_at", (utc_now() + timedelta(days=365)).isoformat())),
                422, "timestamp_out_of_window"),
        Hostile("sent_at in 1970", lambda n: use(n, _set("sent_at", "1970-01-01T00:00:00Z")), 422,
                "timestamp_out_of_window"),
        Hostile("negative cpu percent", lambda n: use(n, _set("body.cpu_percent", -1)), 422, "validation_failed"),
        Hostile("NaN cpu percent", lambda n: use(n, _set("body.cpu_percent", float("nan"))), 422, "validation_failed"),
        Hostile("infinite memory used", lambda n: use(n, _set("body.memory_used_bytes", float("inf"))), 422,
                "validation_failed"),
        Hostile("negative memory", lambda n: inv(n, _set("memory.total_bytes", -1)), 422, "validation_failed"),
        Hostile("a petabyte of RAM", lambda n: inv(n, _set("memory.total_bytes", 2**50)), 422, "validation_failed"),
        Hostile("a million cores", lambda n: inv(n, _set("cpu.physical_cores", 10**6)), 422, "validation_failed"),
        Hostile("zero sockets", lambda n: inv(n, _set("cpu.sockets", 0)), 422, "validation_failed"),
        Hostile("100 THz CPU", lambda n: inv(n, _set("cpu.base_mhz", 1e8)), 422, "validation_failed"),
        Hostile("GPU with 1 PiB memory", lambda n: inv(n, _set("accelerators.0.memory_total_bytes", 2**50)), 422,
                "validation_failed"),
        Hostile("2000 accelerators", lambda n: inv(n, _set("accelerators", [
            {"vendor": "nvidia", "index": i % 1000, "model": "NVIDIA H100 80GB HBM3"} for i in range(2000)])),
            422, "validation_failed"),
        Hostile("negative accelerator index", lambda n: inv(n, _set("accelerators.0.index", -1)), 422,
                "validation_failed"),
        Hostile("100 Tb/s port", lambda n: inv(n, _set("network_interfaces", [
            {"name": "eth0", "speed_mbps": 10**8}])), 422, "validation_failed"),
        Hostile("disk of -1 bytes", lambda n: inv(n, _set("block_devices", [{"name": "sda", "size_bytes": -1}])),
                422, "validation_failed"),
        Hostile("hostname of 10 000 characters", lambda n: inv(n, _set("host.hostname", "h" * 10_000)), 422,
                "validation_failed"),
        Hostile("empty hostname", lambda n: inv(n, _set("host.hostname", "")), 422, "validation_failed"),
        Hostile("hostname with a NUL byte", lambda n: inv(n, _set("host.hostname", "gpu\x00a")), 422,
                "validation_failed"),
        Hostile("rack with a lone surrogate", lambda n: inv(n, _set("location.rack", "R\ud800")), 400,
                "invalid_json"),
        Hostile("300 ISA features", lambda n: inv(n, _set("cpu.isa_features", ["avx"] * 300)), 422,
                "validation_failed"),
        Hostile("machine-id not hex", lambda n: inv(n, _set("host.machine_id", "x" * 32)), 422, "validation_failed"),
        Hostile("province not a CN code", lambda n: inv(n, _set("location.province", "US-CA")), 422,
                "validation_failed"),
        Hostile("inventory naming another data center", lambda n: inv(n, _set("location.datacenter", "dc-other")),
                422, "location_mismatch"),
        Hostile("a string where a number goes", lambda n: inv(n, _set("memory.total_bytes", "lots")), 422,
                "validation_failed"),
        Hostile("form-encoded body", lambda n: b"reports=1", 415, "unsupported_media_type",
                headers={"Content-Type": "application/x-www-form-urlencoded"}),
        Hostile("multipart body", lambda n: batch(usage_report(n)), 415, "unsupported_media_type",
                headers={"Content-Type": "multipart/form-data; boundary=x"}),
        Hostile("XML body", lambda n: b"<reports/>", 415, "unsupported_media_type",
                headers={"Content-Type": "application/xml"}),
    ]


def enroll_cases() -> list[Hostile]:
    """Bodies of `POST /v1/enroll` (no credential: the token is in the body)."""
    def enroll(token: str, change: Callable[[dict[str, Any]], None] | None = None) -> bytes:
        body = {"token": token, "inventory": small_inventory("gpu-new").model_dump(mode="json")}
        if change:
            change(body)
        return json.dumps(body).encode()

    unknown = "slt_" + "A" * 43
    return [
        Hostile("unknown token", lambda n: enroll(unknown), 401, "token_unknown", "/v1/enroll"),
        Hostile("token too short", lambda n: enroll("slt_x"), 422, "validation_failed", "/v1/enroll"),
        Hostile("token of 10 000 characters", lambda n: enroll("t" * 10_000), 422, "validation_failed", "/v1/enroll"),
        Hostile("inventory missing", lambda n: json.dumps({"token": unknown}).encode(), 422, "validation_failed",
                "/v1/enroll"),
        Hostile("inventory with 4097 interfaces", lambda n: enroll(unknown, _set("inventory.network_interfaces",
                [{"name": "e"}] * 4097)), 422, "validation_failed", "/v1/enroll"),
        Hostile("enroll with a NUL in the hostname", lambda n: enroll(unknown, _set("inventory.host.hostname",
                "a\x00b")), 422, "validation_failed", "/v1/enroll"),
        Hostile("enroll body not JSON", lambda n: b"\x00\x01\x02", 400, "invalid_json", "/v1/enroll"),
    ]


QUERY_CASES = [
    ("/v1/nodes?limit=-1", 400, "invalid_query"),
    ("/v1/nodes?limit=100000000000000000000000", 400, "invalid_query"),
    ("/v1/nodes?limit=abc", 400, "invalid_query"),
    ("/v1/nodes?cursor=%00%ff", 400, "invalid_cursor"),
    ("/v1/nodes?cursor=" + "A" * 4000, 400, "invalid_cursor"),
    ("/v1/nodes?sneaky=1", 400, "invalid_query"),
    ("/v1/capacity?by=password", 400, "invalid_query"),
    ("/v1/capacity?status=active,deleted", 400, "invalid_query"),
    ("/v1/nodes/nd-nope", 404, "node_not_found"),
    ("/v1/nodes/" + "x" * 3000, 404, "node_not_found"),
    ("/national/v1/certificates?limit=0", 400, "invalid_query"),
    ("/national/v1/certificates?cursor=garbage", 400, "invalid_cursor"),
]


async def _refusal_problem(client: Any, method: str, path: str, body: bytes | None, headers: dict[str, str],
                           status: int, code: str) -> str | None:
    """None when the request got `status` with error `code` (a registered one); else what went wrong."""
    record("inputs_tried")
    response = await client.request(method, path, data=body, headers=headers)
    text = await response.text()
    if ERROR_CODES.get(code, (None,))[0] != status:
        return f"{code} is not a registered code for {status}"
    try:
        got = json.loads(text)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        got = None
    if response.status != status or got != code:
        return f"{response.status} {text[:200]}"
    return None


async def test_hostile_input_is_refused_and_changes_nothing(make_client: Callable[..., Any]) -> None:
    client = await make_client(max_body_bytes=MAX_BODY_BYTES, max_batch_reports=MAX_BATCH)
    callers = Callers(client)
    node = await callers.enroll("gpu-a")
    admin = {"Authorization": f"Bearer {await callers.key('admin')}"}
    before = await snapshot(callers.engine)
    problems: dict[str, str] = {}
    for case in report_cases() + enroll_cases():
        base = node.headers if case.path == "/v1/reports" else JSON
        problem = await _refusal_problem(client, "POST", case.path, case.body(node.node_id),
                                         {**base, **(case.headers or {})}, case.status, case.code)
        after = await snapshot(callers.engine)
        if problem is None and after != before:
            problem = "changed the database"
        before = after
        if problem:
            problems[case.name] = problem
    for path, status, code in QUERY_CASES:
        if problem := await _refusal_problem(client, "GET", path, None, admin, status, code):
            problems[path[:60]] = problem
    if problem := await _refusal_problem(client, "DELETE", "/v1/reports", None, node.headers, 405,
                                         "method_not_allowed"):
        problems["DELETE /v1/reports"] = problem
    assert problems == {}
    assert await snapshot(callers.engine) == before
    # The same node still reports normally afterwards: refusals left no lock or poisoned state behind.
    good = await client.post("/v1/reports", data=batch(usage_report(node.node_id, 7)), headers=node.headers)
    assert good.status == 200 and (await good.json())["accepted"] == [7]


async def test_refused_report_inside_a_batch_stores_none_of_the_batch(make_client: Callable[..., Any]) -> None:
    """One bad report fails its whole batch: nothing of the batch is stored, the index is named for the agent."""
    client = await make_client()
    callers = Callers(client)
    node = await callers.enroll("gpu-a")
    before = await snapshot(callers.engine)
    bad = copy.deepcopy(usage_report(node.node_id, 3))
    bad["body"]["cpu_percent"] = 1000
    response = await client.post(
        "/v1/reports", data=batch(usage_report(node.node_id, 1), usage_report(node.node_id, 2), bad),
        headers=node.headers,
    )
    assert response.status == 422
    detail = (await response.json())["error"]["detail"]
    assert detail["errors"][0]["index"] == 2
    assert await snapshot(callers.engine) == before
    record("inputs_tried")
