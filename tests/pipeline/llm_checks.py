"""Checks every remote LLM engine's tests share: drain a reply, and the error it fails with."""

from __future__ import annotations

import pytest

from pipeline.llm.base import LLMError, ReplyStream


async def drain(reply: ReplyStream, pieces: list[str]) -> None:
    async for piece in reply:
        pieces.append(piece)


async def clean_failure(
    reply: ReplyStream, *, engine: str, secret: str, pieces: list[str] | None = None
) -> LLMError:
    """The `LLMError` `reply` fails with, checked to name `engine`, carry no `secret` and nothing of the
    client's own error (which holds the request, headers included)."""
    with pytest.raises(LLMError) as caught:
        await drain(reply, [] if pieces is None else pieces)
    error = caught.value
    assert error.engine == engine
    assert secret not in str(error)
    assert error.__cause__ is None
    assert error.__context__ is None
    return error
