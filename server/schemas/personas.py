"""Persona endpoints (§8.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from server.schemas.common import Id, RequestBody


class PersonaSummary(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str
    version: str
    tags: list[str]
    adaptation_mode: str


class PersonaListResponse(msgspec.Struct, kw_only=True):
    personas: list[PersonaSummary]
    total: int
    """Items that match, over all pages."""
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class PersonaDetail(msgspec.Struct, kw_only=True):
    id: str
    name: str
    description: str
    version: str
    voice_config: dict[str, Any]
    behavior_config: dict[str, Any]
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class PersonaSwitchRequest(RequestBody):
    target_persona_id: Id
    preserve_context: bool = True
    transition_message: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    """Said by the device as it switches; empty or null: nothing is said."""

    def __post_init__(self) -> None:
        if self.transition_message == "":
            self.transition_message = None


class PersonaSwitchResponse(msgspec.Struct, kw_only=True):
    success: bool
    previous_persona_id: str | None
    new_persona_id: str
    switch_latency_ms: int
    """Measured: request received → new persona live on the device's session and the command sent."""
    session_id: str
