"""Commands pushed down to a device: what the device acknowledges, and the store records.

Each payload is a Struct of one union, tagged by `kind` so a `CommandRecord`
round-trips through the store. The device never sees `kind`: `wire_payload`
gives the payload as the device receives it (without its `command_id`) and as
`GET /v1/devices/{id}/commands/{cid}` shows it.

`message_type` is the WebSocket `type` the command goes out as, and
`default_priority` its priority; an operator's `POST /v1/devices/{id}/commands`
may give its own priority instead (README, "Device WebSocket protocol").
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

from personas.schema import VoiceConfig
from server.media.cue import PlaybackCue

CommandType = Literal["persona_switch", "led_control", "sync_event"]
"""The WebSocket `type`s commands go out as."""
OperatorCommandType = Literal["led_control", "sync_event"]
"""The commands an operator may push (`POST /v1/devices/{id}/commands`)."""


class _Command(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind"):
    message_type: ClassVar[CommandType]
    default_priority: ClassVar[int] = 0
    operator_priority: ClassVar[bool] = False
    """The operator's request may give its own priority instead of `default_priority`."""
    optional_keys: ClassVar[frozenset[str]] = frozenset()
    """Payload keys the device gets only when they have a value."""


class PersonaSwitchCommand(_Command, tag="persona_switch", frozen=True, kw_only=True):
    """The device's live session switched persona (sent once its voice loop has made the switch)."""

    message_type = "persona_switch"
    default_priority = 10
    """Above ordinary commands (0): a switch overtakes queued LED or sync commands."""

    persona_id: str
    previous_persona_id: str
    session_id: str
    preserve_context: bool
    transition_message: str | None
    voice_config: VoiceConfig


class GroupActivityStart(_Command, tag="group_activity_start", frozen=True, kw_only=True):
    """The device takes part in a group activity, starting together with the others at `starts_at`."""

    message_type = "sync_event"
    default_priority = 5

    event_type: Literal["group_activity_start"] = "group_activity_start"
    activity_id: str
    activity_type: str
    persona_id: str
    session_id: str
    device_ids: list[str]
    config: dict[str, Any]
    starts_at: str
    """ISO 8601 (Python's `isoformat()`, e.g. `2026-01-19T10:30:01.5+00:00`)."""
    playback: PlaybackCue | None = None
    """A `sync_playback`'s media and start, on the device's own clock (sent only for one)."""

    optional_keys = frozenset({"playback"})


class PlaybackControl(_Command, tag="playback_control", frozen=True, kw_only=True):
    """An operator paused, resumed or stopped a `sync_playback`: every device does it at one instant."""

    message_type = "sync_event"
    default_priority = 5

    event_type: Literal["playback_pause", "playback_resume", "playback_stop"]
    activity_id: str
    playback: PlaybackCue


class SessionHandoff(_Command, tag="session_handoff", frozen=True, kw_only=True):
    """A session moved from one device to another, told to both (`role` says which end this is)."""

    message_type = "sync_event"
    default_priority = 5

    event_type: Literal["session_handoff"] = "session_handoff"
    role: Literal["from", "to"]
    session_id: str
    from_device_id: str
    to_device_id: str
    persona_id: str


class BroadcastEvent(_Command, tag="broadcast", frozen=True, kw_only=True):
    """A broadcast's event: its own fields, then `event_type` and `event_id` (which they cannot relabel)."""

    message_type = "sync_event"
    default_priority = 5
    operator_priority = True
    optional_keys = frozenset({"speak"})

    fields: dict[str, Any]
    event_type: str
    event_id: str
    speak: str | None = None
    """The line each device says in its persona's voice (also sent, for a screen to show it)."""


class OperatorLed(_Command, tag="operator_led", frozen=True, kw_only=True):
    """An operator's `led_control`: its fields are the operator's own."""

    message_type = "led_control"
    operator_priority = True

    fields: dict[str, Any]


class OperatorSync(_Command, tag="operator_sync", frozen=True, kw_only=True):
    """An operator's `sync_event`: its fields are the operator's own."""

    message_type = "sync_event"
    operator_priority = True

    fields: dict[str, Any]


CommandPayload = (
    PersonaSwitchCommand
    | GroupActivityStart
    | PlaybackControl
    | SessionHandoff
    | BroadcastEvent
    | OperatorLed
    | OperatorSync
)
OPERATOR_COMMANDS: dict[OperatorCommandType, type[OperatorLed] | type[OperatorSync]] = {
    "led_control": OperatorLed,
    "sync_event": OperatorSync,
}
"""What an operator's command is, by its `type`; the operator may give its own priority."""


def wire_payload(payload: CommandPayload) -> dict[str, Any]:
    """The payload as the device receives it (before its `command_id`) and the REST view shows it."""
    match payload:
        case OperatorLed(fields=fields) | OperatorSync(fields=fields):
            return dict(fields)
        case BroadcastEvent():
            event = {k: v for k, v in payload.fields.items() if k != "speak"}  # only the request's line
            event |= {"event_type": payload.event_type, "event_id": payload.event_id}
            if payload.speak is not None:
                event["speak"] = payload.speak
            return event
        case _:
            wire: dict[str, Any] = msgspec.to_builtins(payload)
            del wire["kind"]  # the store's tag, not the device's business
            for key in payload.optional_keys:
                if wire.get(key) is None:
                    wire.pop(key, None)
            return wire
