"""What the fake model servers share: a tiny HTTP/1.1 server on a real local socket, in its own thread.

Each fake subclasses `FakeHTTPServer` and answers its one path in `answer(request, writer)`; the
server parses one request per connection (`connection: close` keeps it small), records it, waits the
fake's `delay_s`, and cancels whatever is still answering when the block ends. Its own event loop
runs in a background thread, so sync and async tests can both use it.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any

    @property
    def api_key(self) -> str | None:
        """The key as the API reads it: `x-api-key`, else the `Authorization: Bearer` token."""
        bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
        return self.headers.get("x-api-key") or bearer or None


def two_word_pieces(text: str) -> list[str]:
    """`text` as a stream sends it: two words (with their spaces) a piece, concatenating to `text`."""
    words = re.findall(r"\s*\S+\s*", text)
    return ["".join(words[i : i + 2]) for i in range(0, len(words), 2)]


def head(status: int, content_type: str, length: int | None = None, **headers: str) -> bytes:
    """A response's status line and headers; `headers` with `_` for `-` (`retry_after="1"`)."""
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
        f"content-type: {content_type}",
        "request-id: req_fake0001",
        "connection: close",  # one request per connection keeps the server small
    ]
    if length is not None:
        lines.append(f"content-length: {length}")
    lines.extend(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def write_json(writer: asyncio.StreamWriter, status: int, body: Any, **headers: str) -> None:
    payload = json.dumps(body).encode()
    writer.write(head(status, "application/json", len(payload), **headers) + payload)
    await writer.drain()


@dataclass
class FakeModelServer:
    """What every fake model server has: its address, what it received, and the knobs they share."""

    base_url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    reply_text: str = "Hello there!"
    fail_with_status: tuple[int, str] | None = None  # (HTTP status, error type), before any piece
    fail_times: int | None = None  # fail only the next this many requests; None: every one
    retry_after: str | None = None  # the failure's Retry-After header
    delay_s: float = 0.0  # before the response starts
    midstream_error: bool = False  # an error after the first piece
    midstream_stall_s: float = 0.0  # a pause after the first piece

    @property
    def pieces(self) -> list[str]:
        """The text pieces a stream sends: two words each, concatenating to `reply_text`."""
        return two_word_pieces(self.reply_text)

    def take_failure(self) -> tuple[tuple[int, str], dict[str, str]] | None:
        """The failure to answer this request with (status and error type, headers), if any."""
        if self.fail_with_status is None or self.fail_times == 0:
            return None
        if self.fail_times is not None:
            self.fail_times -= 1
        headers = {"retry_after": self.retry_after} if self.retry_after is not None else {}
        return self.fail_with_status, headers


_F = TypeVar("_F", bound=FakeModelServer)


class FakeHTTPServer(Generic[_F]):
    """The asyncio side: one request per connection, recorded in `fake.requests`, answered (after the
    fake's `delay_s`) by `answer` if it is a `POST` to `path`, else by a 404 with `error_body(404)`."""

    path: str

    def __init__(self, fake: _F) -> None:
        self.fake = fake
        self.handlers: set[asyncio.Task[Any]] = set()

    def error_body(self, status: int) -> Any:
        raise NotImplementedError

    async def answer(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def stop(self, listener: asyncio.Server) -> None:
        listener.close()
        for task in list(self.handlers):
            task.cancel()  # e.g. a delay still sleeping after the client gave up
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await listener.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            request = await _read_request(reader)
            self.fake.requests.append(request)
            if self.fake.delay_s:
                await asyncio.sleep(self.fake.delay_s)
            if (request.method, request.path) != ("POST", self.path):
                await write_json(writer, 404, self.error_body(404))
            else:
                await self.answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away (e.g. its timeout fired), or the fake is shutting down
        finally:
            writer.close()
            self.handlers.discard(task)


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest:
    request_head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = request_head.rstrip("\r\n").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    return RecordedRequest(method, path, headers, json.loads(raw) if raw else None)


@contextmanager
def serving(fake: _F, server: FakeHTTPServer[_F], sock: socket.socket, *, name: str) -> Iterator[_F]:
    """Run `server` on `sock` (a listening socket on 127.0.0.1) until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(server.handle, sock=sock)

    listener = asyncio.run_coroutine_threadsafe(start(), loop).result()
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(listener), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def local_socket() -> tuple[socket.socket, str]:
    """A listening socket on a free loopback port, and its base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"
