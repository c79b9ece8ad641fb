"""Multi-device coordination endpoints (§8.7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.schemas.common import Id, Label, Metadata, RequestBody

ActivityType = Literal["trivia", "story", "sync_playback"]


class GroupActivityRequest(RequestBody):
    activity_type: ActivityType
    device_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=100)]
    persona_id: Id
    config: Metadata = msgspec.field(default_factory=dict)


class GroupActivityResponse(msgspec.Struct, kw_only=True):
    activity_id: str
    activity_type: str
    persona_id: str
    device_ids: list[str]
    session_ids: dict[str, str]
    """The session each device runs the activity in."""
    config: dict[str, Any]
    started_at: datetime
    starts_at: datetime
    """When devices begin together (sent to each in its sync_event)."""


class BroadcastRequest(RequestBody):
    event_type: Label
    target_devices: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)]
    """Device ids, or ["all"]: every device of `group_id`, or every device when no group is given."""
    payload: Metadata
    group_id: Label | None = None


class BroadcastResponse(msgspec.Struct, kw_only=True):
    event_id: str
    event_type: str
    delivered: list[str]
    offline: list[str]
