"""Every route of the one route table, called as every kind of caller, against a table of expected statuses.

A route added to `ROUTES` without a row here fails the test, so nobody ships an endpoint whose
access was never decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from suanli.controlplane.routes import ROUTES
from suanli.schema import utc_now

from .conftest import Callers, Node, small_inventory
from .counts import record

CALLERS = ("none", "wrong", "agent_a", "agent_b", "operator", "admin", "national")
PUBLIC = dict.fromkeys(CALLERS, 200)
# Operator API: only operator and admin keys; a node credential is no API key (401), national is 403.
OPERATOR_ONLY = {"none": 401, "wrong": 401, "agent_a": 401, "agent_b": 401, "operator": 200, "admin": 200,
                 "national": 403}
NATIONAL_FEED = {**OPERATOR_ONLY, "national": 200}

# (method, route as in ROUTES) → caller → status. Paths with {node_id} are called with agent A's node.
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    # Enrollment is authorised by the bootstrap token in the body; a header grants nothing more.
    ("POST", "/v1/enroll"): dict.fromkeys(CALLERS, 201),
    # A batch naming agent A's node: only A may post it; B is refused before anything is stored.
    ("POST", "/v1/reports"): {"none": 401, "wrong": 401, "agent_a": 200, "agent_b": 403, "operator": 401,
                              "admin": 401, "national": 401},
    ("GET", "/v1/capacity"): OPERATOR_ONLY,
    ("GET", "/v1/nodes"): OPERATOR_ONLY,
    ("GET", "/v1/nodes/{node_id}"): OPERATOR_ONLY,
    ("GET", "/v1/nodes/{node_id}/usage"): OPERATOR_ONLY,
    ("GET", "/v1/certification"): OPERATOR_ONLY,
    ("GET", "/metrics"): OPERATOR_ONLY,
    ("GET", "/dashboard/utilisation"): OPERATOR_ONLY,
    ("GET", "/national/v1/summary"): NATIONAL_FEED,
    ("GET", "/national/v1/certificates"): NATIONAL_FEED,
    # The dashboard: a browser without a session cookie is sent to the login page, whatever header it sends.
    ("GET", "/"): dict.fromkeys(CALLERS, 303),
    ("GET", "/login"): PUBLIC,
    # The login form carries the caller's secret: operator and admin keys get a session, others do not.
    ("POST", "/login"): {"none": 401, "wrong": 401, "agent_a": 401, "agent_b": 401, "operator": 303, "admin": 303,
                         "national": 403},
    ("POST", "/logout"): dict.fromkeys(CALLERS, 303),
    ("GET", "/dashboard/static"): PUBLIC,
}
# Routes that must not exist: minting keys and tokens is a command on the database, never an HTTP call.
ABSENT = [("POST", "/v1/keys"), ("POST", "/v1/tokens"), ("POST", "/v1/api-keys"), ("DELETE", "/v1/nodes/{node_id}")]


def route_keys() -> set[tuple[str, str]]:
    """(method, path) of every entry of the route table; static directories by their prefix."""
    keys = set()
    for route in ROUTES:
        if isinstance(route, web.StaticDef):
            keys.add(("GET", route.prefix))
        else:
            keys.add((route.method, route.path))
    return keys


def test_every_route_has_a_row_in_the_matrix() -> None:
    assert route_keys() == set(MATRIX), "a route was added or removed without deciding who may call it"


class Scene:
    """Two enrolled nodes and a key of each role, and the request each caller makes to each route."""

    def __init__(self, callers: Callers, node_a: Node, node_b: Node, keys: dict[str, str], token: str) -> None:
        self.callers = callers
        self.node_a = node_a
        self.secrets = {"none": None, "wrong": "slk_" + "w" * 43, "agent_a": node_a.credential,
                        "agent_b": node_b.credential, **keys}
        self.token = token
        self.enrolled = 0

    def request(self, method: str, route: str, caller: str) -> tuple[str, dict[str, Any]]:
        secret = self.secrets[caller]
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        path = route.replace("{node_id}", self.node_a.node_id)
        if route == "/dashboard/static":
            path += "/dashboard.css"
        if route == "/login" and method == "POST":
            return path, {"data": {"key": secret or ""}}  # a form, as the browser posts it
        if route == "/v1/enroll":
            self.enrolled += 1
            body = {"token": self.token,
                    "inventory": small_inventory(f"new-{caller}-{self.enrolled}").model_dump(mode="json")}
            return path, {"json": body, "headers": headers}
        if route == "/v1/reports":
            report = {"schema": "v1", "node_id": self.node_a.node_id, "seq": 1, "sent_at": utc_now().isoformat(),
                      "kind": "usage", "body": {"cpu_percent": 5.0}}
            return path, {"data": json.dumps({"reports": [report]}),
                          "headers": {**headers, "Content-Type": "application/json"}}
        return path, {"headers": headers}


async def _scene(make_client: Callable[..., Any]) -> Scene:
    client = await make_client(rate_limit_auth_failures_per_s=0)
    callers = Callers(client)
    node_a, node_b = await callers.enroll("gpu-a"), await callers.enroll("gpu-b")
    keys = {role: await callers.key(role) for role in ("operator", "admin", "national")}
    return Scene(callers, node_a, node_b, keys, await callers.token(uses=100))


async def test_every_route_answers_every_caller_as_the_matrix_says(make_client: Callable[..., Any]) -> None:
    scene = await _scene(make_client)
    client = scene.callers.client
    wrong: dict[str, str] = {}
    for (method, route), expected in sorted(MATRIX.items()):
        for caller in CALLERS:
            path, options = scene.request(method, route, caller)
            response = await client.request(method, path, allow_redirects=False, **options)
            record("endpoint_role_pairs")
            if response.status != expected[caller]:
                wrong[f"{method} {route} as {caller}"] = f"{response.status}, expected {expected[caller]}"
    for method, route in ABSENT:
        for caller in CALLERS:
            path, options = scene.request(method, route, caller)
            response = await client.request(method, path, allow_redirects=False, **options)
            record("endpoint_role_pairs")
            if response.status not in (404, 405):
                wrong[f"{method} {route} as {caller}"] = f"{response.status}, expected no such route"
    assert wrong == {}


async def test_agent_b_leaves_no_trace_on_node_a(make_client: Callable[..., Any]) -> None:
    """B's refused batch for A stores nothing: A's usage history holds only what A itself sent."""
    scene = await _scene(make_client)
    client = scene.callers.client
    for caller in ("agent_b", "agent_a"):
        path, options = scene.request("POST", "/v1/reports", caller)
        await client.post(path, **options)
    operator = {"Authorization": f"Bearer {scene.secrets['operator']}"}
    history = await (await client.get(f"/v1/nodes/{scene.node_a.node_id}/usage", headers=operator)).json()
    assert [point["seq"] for point in history["points"]] == [1]
    detail = await (await client.get(f"/v1/nodes/{scene.node_a.node_id}", headers=operator)).json()
    assert detail["last_seq"] == 1


async def test_national_sees_certified_supply_only(make_client: Callable[..., Any]) -> None:
    """Two live, uncertified nodes: the national summary counts none of them and node lists are closed."""
    scene = await _scene(make_client)
    national = {"Authorization": f"Bearer {scene.secrets['national']}"}
    summary = await (await scene.callers.client.get("/national/v1/summary", headers=national)).json()
    assert summary["summary"]["totals"]["nodes"] == 0
    assert summary["summary"]["groups"] == []
    nodes = await scene.callers.client.get("/v1/nodes", headers=national)
    assert nodes.status == 403 and (await nodes.json())["error"]["code"] == "forbidden_role"
