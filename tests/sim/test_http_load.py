"""bench/_http_load.py, the ingest benches' load generator, against a real aiohttp server on loopback:
every request arrives whole over kept-alive connections, and a bad answer fails the run."""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def http_load() -> Any:
    spec = importlib.util.spec_from_file_location("bench_http_load", REPO_ROOT / "bench" / "_http_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def _server(aiohttp_server: Any, handler: Any) -> tuple[str, dict[str, Any]]:
    seen: dict[str, Any] = {"bodies": [], "authorizations": [], "peers": set()}

    async def record(request: web.Request) -> web.StreamResponse:
        seen["bodies"].append(await request.read())
        seen["authorizations"].append(request.headers.get("Authorization"))
        seen["peers"].add(request.transport.get_extra_info("peername"))
        return await handler(request)

    app = web.Application()
    app.router.add_post("/v1/reports", record)
    server = await aiohttp_server(app)
    return str(server.make_url("/v1/reports")), seen


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"accepted": [1]})


async def test_every_request_arrives_whole_over_at_most_concurrency_connections(http_load, aiohttp_server) -> None:
    url, seen = await _server(aiohttp_server, _ok)
    bodies = [b'{"n": %d, "pad": "%s"}' % (i, b"x" * (i * 997 % 70_000)) for i in range(40)]
    requests = [http_load.request_bytes(url, {"Authorization": f"Bearer s{i}"}, b) for i, b in enumerate(bodies)]

    seconds = await http_load.drive(url, requests, concurrency=4)

    assert seconds > 0
    assert sorted(seen["bodies"]) == sorted(bodies)
    assert sorted(seen["authorizations"]) == sorted(f"Bearer s{i}" for i in range(40))
    assert 1 <= len(seen["peers"]) <= 4  # connections are kept alive, not opened per request


async def test_fewer_requests_than_connections_opens_only_as_many(http_load, aiohttp_server) -> None:
    url, seen = await _server(aiohttp_server, _ok)
    await http_load.drive(url, [http_load.request_bytes(url, {}, b"{}")] * 2, concurrency=64)
    assert len(seen["bodies"]) == 2 and len(seen["peers"]) <= 2


async def test_an_answer_other_than_200_fails_the_run_with_its_text(http_load, aiohttp_server) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": "invalid_credential"}}, status=401)

    url, seen = await _server(aiohttp_server, refuse)
    requests = [http_load.request_bytes(url, {}, b"{}")] * 10
    with pytest.raises(http_load.HttpError, match="401.*invalid_credential"):
        await http_load.drive(url, requests, concurrency=2)
    assert len(seen["bodies"]) < 10  # the run stops sending once it failed


async def test_a_chunked_answer_is_refused_rather_than_misread(http_load, aiohttp_server) -> None:
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"{}")
        await response.write_eof()
        return response

    url, _seen = await _server(aiohttp_server, chunked)
    with pytest.raises(http_load.HttpError, match="without Content-Length"):
        await http_load.drive(url, [http_load.request_bytes(url, {}, b"{}")], concurrency=1)
