"""What every engine behind an HTTP API shares: its failures as `LLMError`, and retries.

Each engine names its service once (`Upstream("anthropic", "the Anthropic API")`) and
builds its errors from types and codes only, never from the upstream's text, which may
quote the request. `translated` runs a reply's pieces and raises the translated error
outside the `except` block, so that neither the cause nor the context (which hold the
request and its credentials) travels with it. `with_retries` tries a reply again while
nothing of it has been yielded, with the backoff the Anthropic SDK uses; both engines retry
through it (the SDK's own retries are off), so they wait alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec

from pipeline.llm.base import LLMError, TokenUsage

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Besides 5xx, the statuses worth trying again: request timeout, lock conflict, rate limit."""
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
"""A retry waits 0.5 s, 1 s, 2 s... at most this (less up to a quarter, at random), or what the
upstream's `Retry-After` asks when that is no longer: a longer wait fails the reply at once."""


def retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `Retry-After` in seconds (an HTTP date is not waited for)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name, ""))
        except ValueError:
            continue
        if value >= 0:
            return value * scale
    return None


@dataclass(frozen=True)
class Upstream:
    """One remote service's errors: `engine` is the responder's name, `service` how messages name it."""

    engine: str
    service: str

    def timeout(self) -> LLMError:
        return LLMError(f"{self.service} timed out", engine=self.engine, reason="timeout", retryable=True)

    def unreachable(self) -> LLMError:
        message = f"could not reach {self.service}"
        return LLMError(message, engine=self.engine, reason="connection", retryable=True)

    def status(self, status: int, reason: str | None, retry_after_s: float | None = None) -> LLMError:
        reason = reason or f"http_{status}"
        return LLMError(
            f"{self.service} answered {status} ({reason})",
            engine=self.engine,
            reason=reason,
            retryable=retryable_status(status),
            upstream_status=status,
            retry_after_s=retry_after_s,
        )

    def midstream(self, reason: str, *, retryable: bool) -> LLMError:
        message = f"{self.service} failed mid-reply ({reason})"
        return LLMError(message, engine=self.engine, reason=reason, retryable=retryable)

    def invalid(self, exc: BaseException) -> LLMError:
        message = f"unusable answer from {self.service} ({type(exc).__name__})"
        return LLMError(message, engine=self.engine, reason="invalid_response", retryable=False)

    def empty(self) -> LLMError:
        return LLMError("the model sent no text", engine=self.engine, reason="empty_reply", retryable=False)


async def translated(
    pieces: AsyncGenerator[str, None],
    errors: tuple[type[BaseException], ...],
    translate: Callable[[BaseException], LLMError],
) -> AsyncGenerator[str, None]:
    """`pieces`, with any of `errors` raised as `translate(error)` and nothing of the original attached.

    `pieces` is closed explicitly, so a consumer that stops early (barge-in) releases its
    connection at once.
    """
    failure: LLMError | None = None
    try:
        async with contextlib.aclosing(pieces) as texts:
            async for text in texts:
                yield text
    except errors as exc:
        failure = translate(exc)
    if failure is not None:
        raise failure from None


async def with_retries(
    attempt: Callable[[], AsyncGenerator[str, None]], *, max_retries: int
) -> AsyncGenerator[str, None]:
    """The pieces of `attempt()`, tried again up to `max_retries` times on a retryable `LLMError` that
    came before any piece (once a piece is out, it cannot be taken back: the error is raised)."""
    for retry in range(max_retries + 1):
        yielded = False
        try:
            async with contextlib.aclosing(attempt()) as pieces:
                async for piece in pieces:
                    yielded = True
                    yield piece
            return
        except LLMError as error:
            wait_s = _wait_before_retry(error, retry)
            if yielded or retry == max_retries or wait_s is None:
                raise
        await asyncio.sleep(wait_s)


class ReplyOptions(msgspec.Struct, frozen=True):
    """A persona's settings for one engine's replies."""

    model: str
    system_prompt: str
    max_tokens: int
    max_retries: int


class RetriedReply(ABC):
    """One streamed reply of a remote engine: `_text()` run through `translated` (the engine's
    `errors` become `translate(error)`) and `with_retries` (`options.max_retries`); `usage` holds the
    upstream's token counts once it is exhausted."""

    def __init__(
        self,
        options: ReplyOptions,
        errors: tuple[type[BaseException], ...],
        translate: Callable[[BaseException], LLMError],
    ) -> None:
        self._options = options
        self._errors = errors
        self._translate = translate
        self.usage = TokenUsage()

    def __aiter__(self) -> AsyncIterator[str]:
        return with_retries(self._attempt, max_retries=self._options.max_retries)

    def _attempt(self) -> AsyncGenerator[str, None]:
        return translated(self._text(), self._errors, self._translate)

    @abstractmethod
    def _text(self) -> AsyncGenerator[str, None]:
        """One attempt's pieces, raising the engine's own errors."""


ClientT = TypeVar("ClientT")


class RemoteResponder(Generic[ClientT]):
    """What a remote engine's responder holds: its (shared) client and one persona's `ReplyOptions`."""

    def __init__(
        self,
        *,
        client: ClientT,
        model: str,
        system_prompt: str,
        max_tokens: int,
        max_retries: int = 0,
    ) -> None:
        self._client = client
        self._options = ReplyOptions(model, system_prompt, max_tokens, max_retries)


def _wait_before_retry(error: LLMError, retry: int) -> float | None:
    if not error.retryable:
        return None
    if error.retry_after_s is not None:
        return error.retry_after_s if error.retry_after_s <= MAX_BACKOFF_S else None
    backoff_s: float = min(FIRST_BACKOFF_S * 2**retry, MAX_BACKOFF_S)
    return backoff_s * (1 - 0.25 * random.random())
