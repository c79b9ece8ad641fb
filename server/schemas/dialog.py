"""Dialog endpoint (§8.5)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from server.schemas.common import Id

MAX_MESSAGE_CHARS = 4000
MAX_AUDIO_BASE64_CHARS = 2_000_000


class DialogSendRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    device_id: Id
    session_id: Id | None = None
    message: Annotated[str, msgspec.Meta(max_length=MAX_MESSAGE_CHARS)]
    audio_base64: Annotated[str, msgspec.Meta(max_length=MAX_AUDIO_BASE64_CHARS)] | None = None


class DialogSendResponse(msgspec.Struct, kw_only=True):
    session_id: str
    response_text: str
    response_audio_url: str | None
    persona_id: str
    latency_ms: int
    tokens_used: int
