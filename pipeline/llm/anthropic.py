"""The Anthropic engine: the streaming Messages API, one persona per responder.

The SDK speaks API version 2026-10-21, which has no sampling parameters
(`temperature`, `top_p`, `top_k` are rejected with a 400), so none are sent.

Every failure is translated here, at the edge, into `LLMError`, raised outside
the SDK's `except` block so that neither its cause nor its context (which hold
the request and its credentials) travels with the error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence

import anthropic
import httpx2  # the SDK's transport: a stream that breaks mid-body raises its errors unwrapped
from anthropic.types import AssistantMessageParam, MessageParam, UserMessageParam

from pipeline.llm.base import ChatMessage, LLMError, TokenUsage
from pipeline.llm.briefing import Briefing, with_briefing
from pipeline.llm.remote import RemoteResponder, ReplyOptions, RetriedReply, Upstream, retry_after_s

ENGINE = "anthropic"
UPSTREAM = Upstream(ENGINE, "the Anthropic API")
_DEFAULT_BASE_URL = "https://api.anthropic.com"
# Error types that may also arrive as an `error` event inside a 200 stream.
_RETRYABLE_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})
# ValueError: an event that is not JSON.
_ERRORS = (anthropic.AnthropicError, httpx2.HTTPError, ValueError)


def make_anthropic_client(
    *, api_key: str, base_url: str | None, timeout_s: float, max_retries: int = 0
) -> anthropic.AsyncAnthropic:
    """An SDK client with everything explicit.

    `base_url=None` means the public API; it is passed on explicitly so the
    SDK does not pick one up from its own environment variables. The SDK's own
    retries are off by default: the responder retries (`max_retries`), as the
    other remote engines do (`pipeline.llm.remote`), never waiting longer than
    `MAX_BACKOFF_S` where the SDK would wait whatever `Retry-After` says.
    """
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url or _DEFAULT_BASE_URL,
        timeout=timeout_s,
        max_retries=max_retries,
    )


class AnthropicReply(RetriedReply):
    """One streamed reply; `usage` holds the API's token counts once it is exhausted."""

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        options: ReplyOptions,
        messages: Sequence[ChatMessage],
        briefing: Briefing | None = None,
    ) -> None:
        super().__init__(options, _ERRORS, _translate)
        self._client = client
        self._system = with_briefing(options.system_prompt, briefing)
        self._messages = [_message_param(message) for message in messages]

    async def _text(self) -> AsyncGenerator[str, None]:
        options = self._options
        stream = await self._client.messages.create(
            model=options.model,
            system=self._system,
            messages=self._messages,
            max_tokens=options.max_tokens,
            stream=True,
        )
        replied = False
        async with stream:
            async for event in stream:
                match event.type:
                    case "message_start":
                        usage = event.message.usage
                        self.usage = TokenUsage(usage.input_tokens, usage.output_tokens)
                    case "message_delta":
                        input_tokens = event.usage.input_tokens or self.usage.input_tokens
                        self.usage = TokenUsage(input_tokens, event.usage.output_tokens)
                    case "content_block_delta" if event.delta.type == "text_delta" and event.delta.text:
                        replied = True
                        yield event.delta.text
        if not replied:
            raise UPSTREAM.empty()


class AnthropicResponder(RemoteResponder[anthropic.AsyncAnthropic]):
    """A `Responder` on Anthropic's Messages API, bound to one persona's prompt and settings.

    The client (key, address, timeout) is built by the caller, e.g. with
    `make_anthropic_client`, and may be shared by many responders. A reply is
    tried again up to `max_retries` times while nothing of it was yielded.
    """

    @property
    def engine_name(self) -> str:
        return ENGINE

    def stream(self, messages: Sequence[ChatMessage], briefing: Briefing | None = None) -> AnthropicReply:
        return AnthropicReply(
            client=self._client, options=self._options, messages=messages, briefing=briefing
        )


def _message_param(message: ChatMessage) -> MessageParam:
    if message.role == "user":
        return UserMessageParam(role="user", content=message.content)
    return AssistantMessageParam(role="assistant", content=message.content)


def _translate(exc: BaseException) -> LLMError:
    """The `LLMError` for an SDK, transport or decoding failure; built from types and codes only."""
    match exc:
        case anthropic.APITimeoutError() | httpx2.TimeoutException():
            return UPSTREAM.timeout()
        case anthropic.APIConnectionError() | httpx2.TransportError():
            return UPSTREAM.unreachable()
        case anthropic.APIStatusError(status_code=status) if status >= 400:
            return UPSTREAM.status(status, exc.type, retry_after_s(exc.response.headers))
        case anthropic.APIStatusError():
            reason = exc.type or "stream_error"
            return UPSTREAM.midstream(reason, retryable=reason in _RETRYABLE_TYPES)
        case _:
            return UPSTREAM.invalid(exc)
