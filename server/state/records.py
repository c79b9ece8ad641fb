"""What the store keeps. Records are msgspec Structs, encoded as JSON in Redis."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec

from server.live.events import SessionEvent
from server.media.clock import ClockEstimate
from server.media.cue import Playback
from server.ws.commands import CommandPayload, CommandType

PresenceStatus = Literal["online", "busy"]
SessionStatus = Literal["active", "ended"]


class DeviceRecord(msgspec.Struct, frozen=True):
    """A registered device: what it said about itself at registration."""

    device_id: str
    name: str
    device_type: str
    location: str | None
    group_id: str | None
    capabilities: list[str]
    created_at: datetime
    token_jti: str
    """The id of the device's current token; a rotation revokes the old one."""


class DeviceRuntime(msgspec.Struct, frozen=True):
    """The mutable part of a device's state; each field is updated on its own."""

    active_persona_id: str | None = None
    active_session_id: str | None = None
    last_activity: datetime | None = None


class Presence(msgspec.Struct, frozen=True):
    """A live WebSocket connection of a device, owned by one server instance."""

    instance_id: str
    status: PresenceStatus
    connected_at: datetime
    connection_id: str = ""
    """The socket that owns the device's presence: one per device (`claim_presence`)."""
    clock: ClockEstimate | None = None
    """The device's clock as estimated from its heartbeats (server/media/clock.py); None until one is."""


class SessionRecord(msgspec.Struct, frozen=True):
    session_id: str
    device_id: str
    persona_id: str
    user_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    status: SessionStatus = "active"
    ended_at: datetime | None = None


class DayMetrics(msgspec.Struct, frozen=True):
    """One device's interactions on one UTC day."""

    day: date
    interactions: int = 0
    latency_ms_total: float = 0.0


class DeviceSnapshot(msgspec.Struct, frozen=True):
    """A device with its runtime, presence and one day's metrics, read together (`get_device_snapshot`)."""

    device: DeviceRecord
    runtime: DeviceRuntime
    presence: Presence | None
    day: DayMetrics


class CommandRecord(msgspec.Struct, frozen=True):
    """A command pushed down to a device, and the device's ack once it came."""

    command_id: str
    device_id: str
    payload: CommandPayload
    priority: int
    """The payload type's `default_priority` unless an operator gave another."""
    sent_at: datetime
    acked_at: datetime | None = None
    ack_payload: dict[str, Any] | None = None

    @property
    def type(self) -> CommandType:
        """The WebSocket `type` the command goes out as."""
        return self.payload.message_type


ActivityStatus = Literal["running", "stopped"]


class Return(msgspec.Struct, frozen=True):
    """Where a device's live loop goes back to when its activity stops: the session it held before
    (None: none) and its own persona (None: the server's default)."""

    session_id: str | None
    persona_id: str | None


class ActivityRecord(msgspec.Struct, frozen=True):
    """A multi-device group activity (trivia, story, synchronised playback).

    The store is its one owner: any instance lists, reads or stops it. Fields past `starts_at`
    have defaults, so a record written before they existed still reads."""

    activity_id: str
    activity_type: str
    persona_id: str
    device_ids: list[str]
    config: dict[str, Any]
    started_at: datetime
    starts_at: datetime
    group_id: str | None = None
    """The facility (device group) every participant belongs to: an activity never spans two."""
    status: ActivityStatus = "running"
    session_ids: dict[str, str] = {}
    """The session each device takes part in."""
    returns: dict[str, Return] = {}
    """Per device, what it goes back to when the activity stops."""
    ended_at: datetime | None = None
    scores: dict[str, int] = {}
    """Per device (or user); filled by activities that keep score."""
    current_round: int | None = None
    playback: Playback | None = None
    """A `sync_playback`'s media and where it stands (server/media/cue.py)."""


class RuntimeChange(msgspec.Struct, frozen=True):
    """One device's active session and persona set together (a batch of them: `Store.save_activity`)."""

    device_id: str
    active_session_id: str | None
    active_persona_id: str | None
    last_activity: datetime | None = None
    """None: left as it is."""


class RateWindow(msgspec.Struct, frozen=True):
    """The state of one fixed rate-limit window after a hit."""

    count: int
    reset_in_s: float


class _BusMessage(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    """What travels to the instance holding a device's socket."""


class CommandDelivery(_BusMessage, frozen=True, kw_only=True, tag="command"):
    """Send `command` down to the device."""

    command: CommandRecord


class Disconnect(_BusMessage, frozen=True, kw_only=True, tag="disconnect"):
    """Close the device's socket (deregistered, token revoked, replaced by a newer socket)."""

    reason: str = ""
    close_code: int = 4410
    """The WebSocket close code: 4410 deregistered, 4401 token rotated, 4409 replaced by a newer socket."""
    connection_id: str | None = None
    """Only the socket with this connection id closes; None: whichever socket the device has."""


class SessionChange(_BusMessage, frozen=True, kw_only=True, tag="session_change"):
    """A change to the device's session, for its live session to apply (and answer with an `Outcome`)."""

    event: SessionEvent


BusMessage = CommandDelivery | Disconnect | SessionChange


class RateCount(msgspec.Struct, frozen=True):
    """One hit to count against `key` in the current `window_s` window (as `Store.hit` counts)."""

    key: str
    window_s: int


TokenStanding = Literal["ok", "revoked", "unknown_device"]


class TokenCheck(msgspec.Struct, frozen=True):
    """A token's standing, and the rate window after the hit counted with it (only if one was asked
    for and the token stands: a refused token counts nothing)."""

    standing: TokenStanding
    window: RateWindow | None = None
