"""A fake OpenAI-compatible Chat Completions server (Ollama, vLLM, llama.cpp speak it), with failure knobs.

`POST /v1/chat/completions` with `stream: true` answers Server-Sent Events as those servers do: a
first chunk with the assistant role, one `data: {"choices": [{"delta": {"content": ...}}]}` per
piece, a last chunk with `finish_reason`, a usage chunk when `stream_options.include_usage` asks,
then `data: [DONE]`. Without `stream`, a `chat.completion` JSON. Errors are `{"error": {...}}` with
the HTTP status, as the OpenAI API and vLLM send them.

    with fake_openai() as fake:
        fake.fail_with_status = (429, "rate_limit_error")
        fake.retry_after = "0"
        fake.fail_times = 1          # then answers normally
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

__all__ = ["FakeOpenAI", "RecordedRequest", "fake_openai"]

PATH = "/v1/chat/completions"


@dataclass
class FakeOpenAI(FakeModelServer):
    """The running fake: its address (`base_url` ends in /v1), what it received, and the knobs.

    `midstream_error` sends a `data: {"error": ...}` chunk after the first piece."""

    reply_text: str = "Good morning! It is a lovely day for a cup of tea."
    prompt_tokens: int = 34
    malformed_chunk: bool = False  # a `data:` line that is not JSON after the first piece
    drop_after_pieces: int | None = None  # close the connection after this many pieces, no [DONE]
    error_padding: int = 0  # bytes of padding before the error object of a failure's body

    def system_prompts(self) -> list[str]:
        """The system message of every request received, in order."""
        return [
            m["content"] for r in self.requests if r.body for m in r.body["messages"] if m["role"] == "system"
        ]


def _data(payload: dict[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def _error_body(error_type: str, status: int) -> dict[str, Any]:
    return {"error": {"message": "fake failure", "type": error_type, "param": None, "code": status}}


class _Server(FakeHTTPServer[FakeOpenAI]):
    path = PATH

    def error_body(self, status: int) -> dict[str, Any]:
        return _error_body("not_found_error", status)

    async def answer(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        fake = self.fake
        if failure := fake.take_failure():
            (status, error_type), headers = failure
            body = {"padding": "x" * fake.error_padding, **_error_body(error_type, status)}
            return await write_json(writer, status, body, **headers)
        body = request.body
        if not isinstance(body, dict) or not body.get("messages") or not body.get("model"):
            return await write_json(writer, 400, _error_body("invalid_request_error", 400))
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(writer, body["model"], usage=usage)
        return await write_json(writer, 200, self._completion(body["model"]))

    def _chunk(self, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake0001",
            "object": "chat.completion.chunk",
            "created": 1764806400,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def _usage(self) -> dict[str, int]:
        completion = len(self.fake.pieces)
        return {
            "prompt_tokens": self.fake.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.fake.prompt_tokens + completion,
        }

    def _completion(self, model: str) -> dict[str, Any]:
        message = {"role": "assistant", "content": self.fake.reply_text}
        return {
            "id": "chatcmpl-fake0001",
            "object": "chat.completion",
            "created": 1764806400,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": self._usage(),
        }

    async def _stream(self, writer: asyncio.StreamWriter, model: str, *, usage: bool) -> None:
        fake = self.fake
        writer.write(head(200, "text/event-stream"))
        writer.write(_data(self._chunk(model, {"role": "assistant", "content": ""})))
        for number, piece in enumerate(fake.pieces):
            if number == fake.drop_after_pieces:
                return await writer.drain()  # the handler closes the connection: no [DONE]
            if number == 1 and fake.malformed_chunk:
                writer.write(_data('{"choices": [{"delta": {"content": "cut'))
                return await writer.drain()
            if number == 1 and fake.midstream_error:
                writer.write(_data(_error_body("server_error", 500)))
                return await writer.drain()
            writer.write(_data(self._chunk(model, {"content": piece})))
            await writer.drain()
            if number == 0 and fake.midstream_stall_s:
                await asyncio.sleep(fake.midstream_stall_s)
        writer.write(_data(self._chunk(model, {}, finish="stop")))
        if usage:
            writer.write(_data({**self._chunk(model, {}), "choices": [], "usage": self._usage()}))
        writer.write(_data("[DONE]"))
        await writer.drain()


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    """Run a fake Chat Completions server on 127.0.0.1 (a free port) until the block ends."""
    sock, address = local_socket()
    fake = FakeOpenAI(base_url=f"{address}/v1")
    with serving(fake, _Server(fake), sock, name="fake-openai"):
        yield fake
