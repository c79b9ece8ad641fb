"""Dialog endpoint (§8.5)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from server.schemas.common import Id, RequestBody

MAX_MESSAGE_CHARS = 4000
MAX_AUDIO_BASE64_CHARS = 2_000_000
ONE_OF_MESSAGE_OR_AUDIO = "exactly one of `message` and `audio_base64` must be given"

Message = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_CHARS, pattern=r"\S")]
"""Text with at least one non-blank character (the pattern searches, as JSON Schema's do)."""


class DialogSendRequest(RequestBody):
    """A text turn (`message`) or, as the spec puts it, audio *instead of* text (`audio_base64`)."""

    device_id: Id
    session_id: Id | None = None
    message: Message | None = None
    audio_base64: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_AUDIO_BASE64_CHARS)] | None = None

    def __post_init__(self) -> None:
        if (self.message is None) == (self.audio_base64 is None):
            raise ValueError(ONE_OF_MESSAGE_OR_AUDIO)


class DialogSendResponse(msgspec.Struct, kw_only=True):
    session_id: str
    response_text: str
    response_audio_url: str | None
    persona_id: str
    latency_ms: int
    tokens_used: int
