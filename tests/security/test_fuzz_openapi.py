"""schemathesis over the served OpenAPI document, every operation as every kind of caller: no 5xx, answers match it."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from conftest import free_tcp_port
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from suanli.controlplane.api.openapi import openapi_document
from suanli.controlplane.db import create_engine
from suanli.controlplane.store.keys import create_api_key
from suanli.schema import utc_now
from suanli.sim.processes import ServeProcess

from .counts import record
from .sites import enroll_over_http

pytestmark = pytest.mark.integration

ROLES = ("none", "wrong", "agent", "operator", "admin", "national")
# Examples per operation and role: bounded so `make test` stays fast (CI runs this on every push).
READ_EXAMPLES = 8
WRITE_EXAMPLES = 10
NO_LIMITS = {"SUANLI_RATE_LIMIT_NODE_PER_S": "0", "SUANLI_RATE_LIMIT_KEY_PER_S": "0",
             "SUANLI_RATE_LIMIT_AUTH_FAILURES_PER_S": "0"}

schema = schemathesis.openapi.from_dict(openapi_document())


@dataclass
class FuzzTarget:
    url: str
    headers: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """One real `suanli serve` for the whole module, with an enrolled node and a key of each role."""
    directory: Path = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite:///{directory / 'cp.db'}"
    server = ServeProcess(database_url, free_tcp_port(), directory / "data", directory / "serve.log", env=NO_LIMITS)
    try:
        server.wait_ready()
        _, credential = enroll_over_http(server.url, database_url)
        secrets = asyncio.run(_keys(database_url))
        secrets.update(agent=credential, wrong="slk_" + "x" * 43)
        headers = {role: {"Authorization": f"Bearer {secret}"} for role, secret in secrets.items()}
        yield FuzzTarget(server.url, {"none": {}, **headers})
    finally:
        server.stop()
    assert "Traceback" not in (directory / "serve.log").read_text()


async def _keys(database_url: str) -> dict[str, str]:
    """A key of each role, made in the store directly (an admin command per key costs a process start)."""
    engine = create_engine(database_url, pool_size=1)
    try:
        return {role: await create_api_key(engine, role, utc_now()) for role in ("operator", "admin", "national")}
    finally:
        await engine.dispose()


def test_the_served_document_is_the_one_fuzzed(target: FuzzTarget) -> None:
    with urllib.request.urlopen(target.url + "/openapi.json", timeout=10) as response:
        assert json.loads(response.read()) == json.loads(json.dumps(openapi_document()))


def _call_and_check(case: schemathesis.Case, role: str, target: FuzzTarget) -> None:
    response = case.call(base_url=target.url, headers=target.headers[role])
    record("fuzz_cases")
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance,
                                             content_type_conformance])


@pytest.mark.parametrize("role", ROLES)
@schema.include(method="GET").parametrize()
@settings(max_examples=READ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_reads_never_fail_and_match_the_schema(case: schemathesis.Case, role: str, target: FuzzTarget) -> None:
    _call_and_check(case, role, target)


# Writes: generating whole inventories is slow, and only these callers reach different code
# (enrollment ignores the header; reports tell node credentials from everything else first). Their
# boundary values are tried one by one in test_input_limits.py, so only random bodies are drawn here.
@pytest.mark.parametrize("role", ("none", "agent", "operator"))
@schema.include(method="POST").parametrize()
@settings(max_examples=WRITE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          phases=[Phase.generate])
def test_writes_never_fail_and_match_the_schema(case: schemathesis.Case, role: str, target: FuzzTarget) -> None:
    _call_and_check(case, role, target)
