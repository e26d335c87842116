"""A lean HTTP/1.1 load generator for the ingest benches: keep-alive connections over asyncio
protocols, each request's bytes built before the clock starts, one request in flight a connection.

Why not aiohttp's client: on a 2-core machine the load generator shares the cores with the server
it measures. aiohttp's client took about as much CPU a report as the whole bare server (20 against
19 µs on one host, 26–41 against 43–69 on another), and so the core that suanli's writer thread
would use, which a real control plane's remote agents never take. Measured side by side on the
second host, this client takes 10–14 µs a report, its sends and receives through the kernel
included (bench/RESULTS.md). Every answer is still checked: its status must be 200, else the run
fails with the answer's text.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from urllib.parse import urlsplit


class HttpError(RuntimeError):
    pass


def request_bytes(url: str, headers: dict[str, str], body: bytes) -> bytes:
    """One POST of `body` to `url`, as it goes on the wire."""
    parts = urlsplit(url)
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """Sends the next queued request each time the previous answer is complete."""

    def __init__(self, queue: deque[bytes], done: asyncio.Future[None]) -> None:
        self._queue = queue
        self._done = done
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._body_bytes = -1  # the current answer's Content-Length, once its head is read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._send_next()

    def _send_next(self) -> None:
        if self._queue:
            self._transport.write(self._queue.popleft())  # type: ignore[union-attr]
        else:
            self._transport.close()  # type: ignore[union-attr]
            if not self._done.done():
                self._done.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._read_answers()
        except HttpError as error:
            self._fail(error)

    def _read_answers(self) -> None:
        while True:
            if self._body_bytes < 0:
                head_end = self._buffer.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = self._buffer[:head_end]
                self._buffer = self._buffer[head_end + 4:]
                self._status = int(head[9:12])
                self._body_bytes = _content_length(head)
            if len(self._buffer) < self._body_bytes:
                return
            answer, self._buffer = self._buffer[:self._body_bytes], self._buffer[self._body_bytes:]
            self._body_bytes = -1
            if self._status != 200:
                self._fail(HttpError(f"{self._status}: {answer[:300].decode(errors='replace')}"))
                return
            self._send_next()
            if not self._buffer:
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if self._queue or self._body_bytes >= 0:
            self._fail(exc or HttpError("the server closed the connection with requests left"))

    def _fail(self, error: Exception) -> None:
        self._queue.clear()
        if not self._done.done():
            self._done.set_exception(error)
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise HttpError(f"an answer without Content-Length (chunked answers are not read): {head[:300]!r}")


async def drive(url: str, requests: list[bytes], concurrency: int) -> float:
    """Send every request over `concurrency` connections; the seconds from first send to last answer."""
    parts = urlsplit(url)
    queue = deque(requests)
    loop = asyncio.get_running_loop()
    finished = [loop.create_future() for _ in range(min(concurrency, len(requests)))]
    connections: list[_Connection] = []
    started = time.perf_counter()
    try:
        for done in finished:
            _transport, connection = await loop.create_connection(
                lambda done=done: _Connection(queue, done), parts.hostname, parts.port)
            connections.append(connection)
        await asyncio.gather(*finished)
        return time.perf_counter() - started
    finally:
        for connection in connections:  # after a failure, the others may still wait on an answer
            connection.close()
