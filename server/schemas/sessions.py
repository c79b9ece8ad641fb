"""Session endpoints (§8.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from server.schemas.common import Id, Label, RequestBody, SessionMetadata


class SessionCreateRequest(RequestBody):
    device_id: Id
    persona_id: Id
    user_id: Label | None = None
    metadata: SessionMetadata = msgspec.field(default_factory=dict)


class SessionResponse(msgspec.Struct, kw_only=True):
    session_id: str
    device_id: str
    persona_id: str
    user_id: str | None
    metadata: dict[str, Any]
    status: Literal["active", "ended", "expired"]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    turns: int
    """Messages kept in the session's conversation context."""


class SessionListResponse(msgspec.Struct, kw_only=True):
    sessions: list[SessionResponse]
    total: int
    """Items that match, over all pages."""
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class SessionHandoffRequest(RequestBody):
    from_device_id: Id
    to_device_id: Id
    notify_user: bool = True


class SessionHandoffResponse(msgspec.Struct, kw_only=True):
    session_id: str
    from_device_id: str
    to_device_id: str
    persona_id: str
    notified_device_ids: list[str]
    handed_off_at: datetime


class ContextMessage(msgspec.Struct, kw_only=True):
    role: Literal["user", "assistant"]
    content: str


class SessionContextResponse(msgspec.Struct, kw_only=True):
    session_id: str
    messages: list[ContextMessage]
    """The conversation as kept for the persona's LLM: what the user said and what was actually spoken."""
    total: int
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""
