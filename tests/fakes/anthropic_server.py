"""A fake Anthropic Messages API on a real local socket, with failure knobs.

`POST /v1/messages` answers with the event stream the real API sends
(message_start, content_block_start, ping, content_block_delta..., content_block_stop,
message_delta, message_stop) or, without `stream`, a Message JSON; like API version
2026-10-21 it rejects sampling parameters (`temperature`...) with a 400. The server runs
its own event loop in a background thread, so sync and async tests can both use it.

    with fake_anthropic() as fake:
        fake.fail_with_status = (529, "overloaded_error")
        client = anthropic.AsyncAnthropic(api_key="k", base_url=fake.base_url, max_retries=0)
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
from typing import Any

_ERROR_MESSAGES = {
    "authentication_error": "invalid x-api-key",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}
_SAMPLING_PARAMETERS = {"temperature", "top_p", "top_k"}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
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


@dataclass
class FakeAnthropic:
    """The running fake: its address, what it received, and the knobs for the next requests."""

    base_url: str
    requests: list[RecordedRequest] = field(default_factory=list)
    reply_text: str = "Hello there! It is lovely to hear your voice again today."
    input_tokens: int = 21
    fail_with_status: tuple[int, str] | None = None  # (HTTP status, error type)
    delay_s: float = 0.0  # before the response starts
    midstream_error: bool = False  # an `error` event after the first delta
    midstream_stall_s: float = 0.0  # a pause after the first delta

    @property
    def deltas(self) -> list[str]:
        """The text deltas a stream sends: two words each, concatenating to `reply_text`."""
        words = re.findall(r"\s*\S+\s*", self.reply_text)
        return ["".join(words[i : i + 2]) for i in range(0, len(words), 2)]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _error_body(error_type: str) -> dict[str, Any]:
    message = _ERROR_MESSAGES.get(error_type, "Error")
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _head(status: int, content_type: str, length: int | None = None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"content-type: {content_type}",
        "request-id: req_fake0001",
        "connection: close",  # one request per connection keeps the server small
    ]
    if length is not None:
        lines.append(f"content-length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class _Server:
    """The asyncio side: parses one HTTP/1.1 request per connection and answers it."""

    def __init__(self, fake: FakeAnthropic) -> None:
        self.fake = fake
        self.handlers: set[asyncio.Task[Any]] = set()

    async def stop(self, listener: asyncio.Server) -> None:
        listener.close()
        for task in list(self.handlers):
            task.cancel()  # e.g. a `delay_s` still sleeping after the client gave up
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await listener.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            request = await self._read_request(reader)
            self.fake.requests.append(request)
            await self._respond(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away (e.g. its timeout fired), or the fake is shutting down
        finally:
            writer.close()
            self.handlers.discard(task)

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.rstrip("\r\n").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        return RecordedRequest(method, path, headers, json.loads(raw) if raw else None)

    async def _respond(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        fake = self.fake
        if fake.delay_s:
            await asyncio.sleep(fake.delay_s)
        if (request.method, request.path) != ("POST", "/v1/messages"):
            return await self._json(writer, 404, _error_body("not_found_error"))
        if fake.fail_with_status is not None:
            status, error_type = fake.fail_with_status
            return await self._json(writer, status, _error_body(error_type))
        if sampling := _SAMPLING_PARAMETERS & request.body.keys():
            # API version 2026-10-21 rejects sampling parameters, whatever their value.
            message = f"{min(sampling)}: Extra inputs are not permitted"
            body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
            return await self._json(writer, 400, body)
        if request.body.get("stream"):
            return await self._stream(writer, request.body["model"])
        return await self._json(writer, 200, self._message(request.body["model"]))

    @staticmethod
    async def _json(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        writer.write(_head(status, "application/json", len(payload)) + payload)
        await writer.drain()

    def _message(self, model: str) -> dict[str, Any]:
        return {
            "id": "msg_fake0001",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": self.fake.reply_text}] if self.fake.reply_text else [],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": self.fake.input_tokens, "output_tokens": len(self.fake.deltas)},
        }

    async def _stream(self, writer: asyncio.StreamWriter, model: str) -> None:
        fake = self.fake
        start = {**self._message(model), "content": [], "stop_reason": None}
        start["usage"] = {"input_tokens": fake.input_tokens, "output_tokens": 1}
        writer.write(_head(200, "text/event-stream; charset=utf-8"))
        writer.write(_sse("message_start", {"type": "message_start", "message": start}))
        block = {"type": "text", "text": ""}
        writer.write(
            _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
        )
        writer.write(_sse("ping", {"type": "ping"}))
        for number, text in enumerate(fake.deltas):
            if number == 1 and fake.midstream_error:
                writer.write(_sse("error", _error_body("overloaded_error")))
                return await writer.drain()
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
            writer.write(_sse("content_block_delta", delta))
            await writer.drain()
            if number == 0 and fake.midstream_stall_s:
                await asyncio.sleep(fake.midstream_stall_s)
        writer.write(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
        stop = {"stop_reason": "end_turn", "stop_sequence": None}
        usage = {"output_tokens": len(fake.deltas)}
        writer.write(_sse("message_delta", {"type": "message_delta", "delta": stop, "usage": usage}))
        writer.write(_sse("message_stop", {"type": "message_stop"}))
        await writer.drain()


@contextmanager
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """Run a fake Messages API on 127.0.0.1 (a free port) until the block ends."""
    sock = socket.create_server(("127.0.0.1", 0))
    fake = FakeAnthropic(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = _Server(fake)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-anthropic", daemon=True)
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
