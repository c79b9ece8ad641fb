"""Device endpoints (§8.3), plus what operators need: listing, tokens, commands."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.schemas.common import Label, Metadata, RequestBody, ShortText
from server.ws.commands import CommandType, OperatorCommandType

DeviceType = Literal["raspberry_pi", "smart_speaker", "tablet", "custom"]
DeviceStatus = Literal["online", "offline", "busy"]
Capability = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class DeviceRegisterRequest(RequestBody):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    device_type: DeviceType
    location: ShortText | None = None
    group_id: Label | None = None
    capabilities: Annotated[list[Capability], msgspec.Meta(max_length=32)] = msgspec.field(
        default_factory=lambda: ["audio_input", "audio_output"]
    )


class DeviceRegisterResponse(msgspec.Struct, kw_only=True):
    device_id: str
    auth_token: str
    websocket_url: str
    created_at: datetime


class DeviceMetrics(msgspec.Struct, kw_only=True):
    uptime_hours: float
    """Hours the device's current connection has been up; 0 when offline."""
    interactions_today: int
    """Dialog turns since midnight UTC."""
    avg_response_latency_ms: int | None
    """Mean server-side turn latency today; null before the first turn of the day."""


class DeviceState(msgspec.Struct, kw_only=True):
    device_id: str
    status: DeviceStatus
    active_persona_id: str | None
    active_session_id: str | None
    last_activity: datetime
    metrics: DeviceMetrics


class DeviceInfo(msgspec.Struct, kw_only=True):
    device_id: str
    name: str
    device_type: DeviceType
    location: str | None
    group_id: str | None
    capabilities: list[str]
    created_at: datetime
    status: DeviceStatus
    active_persona_id: str | None
    active_session_id: str | None
    last_activity: datetime


class DeviceListResponse(msgspec.Struct, kw_only=True):
    devices: list[DeviceInfo]
    total: int
    """Items that match, over all pages."""
    next_cursor: str | None
    """Pass as `cursor` for the next page; null on the last page."""


class DeviceTokenResponse(msgspec.Struct, kw_only=True):
    device_id: str
    auth_token: str
    expires_at: datetime


class DeviceCommandRequest(RequestBody):
    type: OperatorCommandType
    payload: Metadata = msgspec.field(default_factory=dict)
    """Sent to the device as it is, with the command's `command_id` added."""
    priority: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    """Higher = more urgent: queued commands for a device go out highest first. The operator's own,
    instead of the command type's default (0 for both types, so the same when left out)."""


class DeviceCommandResponse(msgspec.Struct, kw_only=True):
    command_id: str
    device_id: str
    type: CommandType
    payload: dict[str, Any]
    """As the device received it, without its `command_id`."""
    priority: int
    sent_at: datetime
    acked: bool
    acked_at: datetime | None
    ack_payload: dict[str, Any] | None
