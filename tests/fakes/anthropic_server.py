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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.fakes.http_fake import (
    FakeHTTPServer,
    FakeModelServer,
    RecordedRequest,
    head,
    local_socket,
    serving,
    write_json,
)

__all__ = ["FakeAnthropic", "RecordedRequest", "fake_anthropic"]

_ERROR_MESSAGES = {
    "authentication_error": "invalid x-api-key",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}
_SAMPLING_PARAMETERS = {"temperature", "top_p", "top_k"}


@dataclass
class FakeAnthropic(FakeModelServer):
    """The running fake: its address, what it received, and the knobs for the next requests.

    `midstream_error` sends an `error` event after the first delta."""

    reply_text: str = "Hello there! It is lovely to hear your voice again today."
    input_tokens: int = 21

    @property
    def deltas(self) -> list[str]:
        """The text deltas a stream sends: two words each, concatenating to `reply_text`."""
        return self.pieces


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _error_body(error_type: str) -> dict[str, Any]:
    message = _ERROR_MESSAGES.get(error_type, "Error")
    return {"type": "error", "error": {"type": error_type, "message": message}}


class _Server(FakeHTTPServer[FakeAnthropic]):
    """Answers `POST /v1/messages` as the Messages API does."""

    path = "/v1/messages"

    def error_body(self, status: int) -> dict[str, Any]:
        return _error_body("not_found_error")

    async def answer(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        fake = self.fake
        if failure := fake.take_failure():
            (status, error_type), headers = failure
            return await write_json(writer, status, _error_body(error_type), **headers)
        if sampling := _SAMPLING_PARAMETERS & request.body.keys():
            # API version 2026-10-21 rejects sampling parameters, whatever their value.
            message = f"{min(sampling)}: Extra inputs are not permitted"
            body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
            return await write_json(writer, 400, body)
        if request.body.get("stream"):
            return await self._stream(writer, request.body["model"])
        return await write_json(writer, 200, self._message(request.body["model"]))

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
        writer.write(head(200, "text/event-stream; charset=utf-8"))
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
    sock, base_url = local_socket()
    fake = FakeAnthropic(base_url=base_url)
    with serving(fake, _Server(fake), sock, name="fake-anthropic"):
        yield fake
