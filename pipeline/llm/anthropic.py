"""The Anthropic engine: the streaming Messages API, one persona per responder.

The SDK speaks API version 2026-10-21, which has no sampling parameters
(`temperature`, `top_p`, `top_k` are rejected with a 400), so none are sent.

Every failure is translated here, at the edge, into `LLMError`, raised outside
the SDK's `except` block so that neither its cause nor its context (which hold
the request and its credentials) travels with the error.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence

import anthropic
import httpx2  # the SDK's transport: a stream that breaks mid-body raises its errors unwrapped
import msgspec
from anthropic.types import AssistantMessageParam, MessageParam, UserMessageParam

from pipeline.llm.base import ChatMessage, LLMError, TokenUsage

ENGINE = "anthropic"
_DEFAULT_BASE_URL = "https://api.anthropic.com"
# Besides 5xx, the statuses the SDK itself retries: request timeout, lock conflict, rate limit.
_RETRYABLE_STATUSES = frozenset({408, 409, 429})
# Error types that may also arrive as an `error` event inside a 200 stream.
_RETRYABLE_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})


def make_anthropic_client(
    *, api_key: str, base_url: str | None, timeout_s: float, max_retries: int
) -> anthropic.AsyncAnthropic:
    """An SDK client with everything explicit.

    `base_url=None` means the public API; it is passed on explicitly so the
    SDK does not pick one up from its own environment variables.
    """
    return anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url or _DEFAULT_BASE_URL,
        timeout=timeout_s,
        max_retries=max_retries,
    )


class _Options(msgspec.Struct, frozen=True):
    model: str
    system_prompt: str
    max_tokens: int


class AnthropicReply:
    """One streamed reply; `usage` holds the API's token counts once it is exhausted."""

    def __init__(
        self, *, client: anthropic.AsyncAnthropic, options: _Options, messages: Sequence[ChatMessage]
    ) -> None:
        self._client = client
        self._options = options
        self._messages = [_message_param(message) for message in messages]
        self.usage = TokenUsage()

    async def __aiter__(self) -> AsyncIterator[str]:
        failure: LLMError | None = None
        try:
            # Closed explicitly, so a consumer that stops early (barge-in) releases the connection now.
            async with contextlib.aclosing(self._text()) as texts:
                async for text in texts:
                    yield text
        except (anthropic.AnthropicError, httpx2.HTTPError, ValueError) as exc:  # ValueError: bad event JSON
            failure = _translate(exc)
        if failure is not None:
            raise failure from None

    async def _text(self) -> AsyncGenerator[str, None]:
        options = self._options
        stream = await self._client.messages.create(
            model=options.model,
            system=options.system_prompt,
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
            raise LLMError("the model sent no text", engine=ENGINE, reason="empty_reply", retryable=False)


class AnthropicResponder:
    """A `Responder` on Anthropic's Messages API, bound to one persona's prompt and settings.

    The client (key, address, timeout, SDK retries) is built by the caller,
    e.g. with `make_anthropic_client`, and may be shared by many responders.
    """

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        model: str,
        system_prompt: str,
        max_tokens: int,
    ) -> None:
        self._client = client
        self._options = _Options(model, system_prompt, max_tokens)

    @property
    def engine_name(self) -> str:
        return ENGINE

    def stream(self, messages: Sequence[ChatMessage]) -> AnthropicReply:
        return AnthropicReply(client=self._client, options=self._options, messages=messages)


def _message_param(message: ChatMessage) -> MessageParam:
    if message.role == "user":
        return UserMessageParam(role="user", content=message.content)
    return AssistantMessageParam(role="assistant", content=message.content)


def _translate(exc: Exception) -> LLMError:
    """The `LLMError` for an SDK, transport or decoding failure; built from types and codes only."""
    match exc:
        case anthropic.APITimeoutError() | httpx2.TimeoutException():
            return LLMError("the Anthropic API timed out", engine=ENGINE, reason="timeout", retryable=True)
        case anthropic.APIConnectionError() | httpx2.TransportError():
            message = "could not reach the Anthropic API"
            return LLMError(message, engine=ENGINE, reason="connection", retryable=True)
        case anthropic.APIStatusError(status_code=status) if status >= 400:
            reason = exc.type or f"http_{status}"
            retryable = status in _RETRYABLE_STATUSES or status >= 500
            message = f"the Anthropic API answered {status} ({reason})"
            return LLMError(
                message, engine=ENGINE, reason=reason, retryable=retryable, upstream_status=status
            )
        case anthropic.APIStatusError():
            reason = exc.type or "stream_error"
            message = f"the Anthropic API failed mid-reply ({reason})"
            return LLMError(message, engine=ENGINE, reason=reason, retryable=reason in _RETRYABLE_TYPES)
        case _:
            message = f"unusable answer from the Anthropic API ({type(exc).__name__})"
            return LLMError(message, engine=ENGINE, reason="invalid_response", retryable=False)
