"""The interface every LLM engine implements, and the one error it raises.

A `Responder` is built for one persona (its system prompt and settings are
fixed at construction) and streams a reply to a conversation piece by piece,
so that later stages (clause splitting, TTS) can start on the first words.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol

import msgspec

from pipeline.llm.briefing import Briefing


class ChatMessage(msgspec.Struct, frozen=True):
    """One turn of a conversation, as the LLM sees it."""

    role: Literal["user", "assistant"]
    content: str


class TokenUsage(msgspec.Struct, frozen=True):
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


class LLMError(Exception):
    """An engine could not produce a reply.

    `retryable` says whether the same request may succeed later (overload,
    timeout); `upstream_status` is the HTTP status of a remote engine, if any.
    The message never contains credentials.
    """

    def __init__(
        self,
        message: str,
        *,
        engine: str,
        reason: str,
        retryable: bool,
        upstream_status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.engine = engine
        self.reason = reason
        self.retryable = retryable
        self.upstream_status = upstream_status
        self.retry_after_s = retry_after_s
        """How long the upstream asked to wait before trying again (`Retry-After`), if it said."""


class ReplyStream(Protocol):
    """An async iterator of text pieces; `usage` is final once it is exhausted."""

    usage: TokenUsage

    def __aiter__(self) -> AsyncIterator[str]: ...


class Responder(Protocol):
    """An LLM engine bound to one persona's prompt and settings."""

    @property
    def engine_name(self) -> str:
        """A short, honest name of the engine ("anthropic", "scripted-offline")."""
        ...

    def stream(self, messages: Sequence[ChatMessage], briefing: Briefing | None = None) -> ReplyStream:
        """Stream the reply to `messages`, which end with the user's turn.

        `briefing`: what the persona knows of the person it is talking with in this
        session (`pipeline.llm.briefing`), or None. Raises `LLMError` (from iteration)
        when the engine fails.
        """
        ...
