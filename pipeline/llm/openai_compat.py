"""The on-premises engine: the OpenAI-compatible Chat Completions protocol, streamed.

Ollama, vLLM and llama.cpp's server all answer `POST {base_url}/chat/completions`
with `stream: true` as Server-Sent Events, one `data: {chunk}` per piece
(`choices[0].delta.content`), then `data: [DONE]`; a failure before the stream is
a JSON `{"error": {...}}` with an HTTP status, and some servers send the same object
as a chunk when they fail mid-stream. A stream that ends without `[DONE]` was cut.

Failures become `LLMError` at this edge exactly as with the Anthropic engine
(`pipeline.llm.remote`), and a reply is tried again (`max_retries`) while nothing of
it was yielded, honouring `Retry-After`. The client never reads the environment
(`trust_env=False`: no proxy variables, no `.netrc`) and follows no redirect.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import httpx2
import msgspec

from pipeline.llm.base import ChatMessage, LLMError, TokenUsage
from pipeline.llm.briefing import Briefing, with_briefing
from pipeline.llm.remote import RemoteResponder, ReplyOptions, RetriedReply, Upstream, retry_after_s

ENGINE = "openai-compatible"
UPSTREAM = Upstream(ENGINE, "the model server")
MAX_EVENT_BYTES = 256 * 1024
"""One Server-Sent Event at most; a bigger one is an unusable answer, not a memory hog."""
CONNECT_TIMEOUT_S = 5.0
"""At most this long to connect (a local server either answers at once or is down)."""
_ERRORS = (httpx2.HTTPError, msgspec.DecodeError, UnicodeDecodeError)
# Error types some servers put in a chunk when they fail mid-stream, worth trying again.
_RETRYABLE_TYPES = frozenset({"server_error", "overloaded_error", "rate_limit_error", "timeout", "busy"})


def make_chat_completions_client(*, base_url: str, api_key: str, timeout_s: float) -> httpx2.AsyncClient:
    """An HTTP client for one model server (e.g. "http://127.0.0.1:11434/v1"), shared by every responder.

    `api_key` ("" for none) goes as `Authorization: Bearer`; `timeout_s` bounds each wait: for the
    response to start, and between two pieces of it.
    """
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx2.AsyncClient(
        base_url=base_url.rstrip("/"),
        headers=headers,
        timeout=httpx2.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S)),
        follow_redirects=False,
        trust_env=False,
    )


class _Delta(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta = msgspec.field(default_factory=_Delta)


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _ErrorBody(msgspec.Struct):
    type: str | None = None
    code: str | int | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] = []
    usage: _Usage | None = None
    error: _ErrorBody | None = None


class _ErrorResponse(msgspec.Struct):
    error: _ErrorBody | str | None = None


_chunk_decoder = msgspec.json.Decoder(_Chunk)
_error_decoder = msgspec.json.Decoder(_ErrorResponse)
_encoder = msgspec.json.Encoder()


class ChatCompletionsReply(RetriedReply):
    """One streamed reply; `usage` holds the server's token counts once it is exhausted (if it sent any)."""

    def __init__(
        self,
        *,
        client: httpx2.AsyncClient,
        options: ReplyOptions,
        messages: Sequence[ChatMessage],
        briefing: Briefing | None,
    ) -> None:
        super().__init__(options, _ERRORS, _translate)
        self._client = client
        system = {"role": "system", "content": with_briefing(options.system_prompt, briefing)}
        self._body = _encoder.encode(
            {
                "model": options.model,
                "messages": [system, *({"role": m.role, "content": m.content} for m in messages)],
                "max_tokens": options.max_tokens,
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        )

    async def _text(self) -> AsyncGenerator[str, None]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        async with self._client.stream("POST", "/chat/completions", content=self._body, headers=headers) as r:
            if r.status_code >= 400:
                raise await _status_error(r)
            replied = done = False
            async for event in httpx2.EventSource(r, max_event_size=MAX_EVENT_BYTES):
                if event.data.strip() == "[DONE]":
                    done = True
                    break
                chunk = _chunk_decoder.decode(event.data)
                if chunk.error is not None:
                    reason = str(chunk.error.type or chunk.error.code or "stream_error")
                    raise UPSTREAM.midstream(reason, retryable=reason in _RETRYABLE_TYPES)
                if chunk.usage is not None:
                    self.usage = TokenUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices[:1]:
                    if choice.delta.content:
                        replied = True
                        yield choice.delta.content
        if not done:  # the connection closed before the end of the reply
            raise UPSTREAM.midstream("incomplete_stream", retryable=True)
        if not replied:
            raise UPSTREAM.empty()


class ChatCompletionsResponder(RemoteResponder[httpx2.AsyncClient]):
    """A `Responder` on an OpenAI-compatible Chat Completions server, bound to one persona.

    The client (address, key, timeout) is built by the caller, e.g. with
    `make_chat_completions_client`, and may be shared by many responders.
    """

    @property
    def engine_name(self) -> str:
        return ENGINE

    def stream(
        self, messages: Sequence[ChatMessage], briefing: Briefing | None = None
    ) -> ChatCompletionsReply:
        return ChatCompletionsReply(
            client=self._client, options=self._options, messages=messages, briefing=briefing
        )


async def _status_error(response: httpx2.Response) -> LLMError:
    """The error for an HTTP status, its reason from the body's `error.type` (or `code`) if it has one."""
    body = b""
    async for part in response.aiter_bytes():  # at most MAX_EVENT_BYTES of it: only `error.type` matters
        body += part
        if len(body) > MAX_EVENT_BYTES:
            break
    reason = None
    try:
        error = _error_decoder.decode(body).error
    except (msgspec.DecodeError, UnicodeDecodeError):
        error = None
    if isinstance(error, _ErrorBody) and (error.type or error.code):
        reason = str(error.type or error.code)
    return UPSTREAM.status(response.status_code, reason, retry_after_s(response.headers))


def _translate(exc: BaseException) -> LLMError:
    """The `LLMError` for a transport or decoding failure; built from types only."""
    match exc:
        case httpx2.TimeoutException():
            return UPSTREAM.timeout()
        case httpx2.SSEError():  # not an event stream, or an event past MAX_EVENT_BYTES
            return UPSTREAM.invalid(exc)
        case httpx2.TransportError():
            return UPSTREAM.unreachable()
        case _:
            return UPSTREAM.invalid(exc)
