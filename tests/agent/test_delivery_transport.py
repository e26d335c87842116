"""The agent's HTTP client: a kept-alive connection, reopened once when the server dropped it."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import free_tcp_port

from suanli.agent.transport import HttpClient


def peer_app(peers: list[object]) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        body = await request.read()
        retry_after = {"Retry-After": "3"} if request.headers.get("X-Busy") else {}
        status = 429 if retry_after else 200
        return web.Response(status=status, body=body, headers=retry_after, content_type="application/json")

    app = web.Application()
    app.router.add_post("/base/v1/echo", echo)
    return app


async def test_connection_is_reused_and_base_path_kept() -> None:
    peers: list[object] = []
    server = TestServer(peer_app(peers), host="127.0.0.1")
    await server.start_server()
    client = HttpClient(f"http://127.0.0.1:{server.port}/base/", request_timeout_s=5)
    try:
        first = await client.post("/v1/echo", b'{"a":1}', {})
        second = await client.post("/v1/echo", b'{"b":2}', {"X-Busy": "1"})
    finally:
        client.close()
        await server.close()
    assert (first.status, first.text) == (200, '{"a":1}')
    assert (second.status, second.retry_after) == (429, "3")
    assert peers[0] == peers[1]  # same client port: one connection for both


async def test_connection_dropped_by_a_restarted_server_is_reopened() -> None:
    port = free_tcp_port()
    peers: list[object] = []
    client = HttpClient(f"http://127.0.0.1:{port}/base", request_timeout_s=5)
    try:
        for _ in range(2):
            server = TestServer(peer_app(peers), host="127.0.0.1", port=port)
            await server.start_server()
            try:
                response = await client.post("/v1/echo", b"{}", {})
            finally:
                await server.close()
            assert response.status == 200
    finally:
        client.close()
    assert len(peers) == 2 and peers[0] != peers[1]
