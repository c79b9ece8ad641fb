"""What the operator event stream carries: one typed payload per kind of event, in an `Entry`.

An entry names its device and the device's group (the stream's filters). Fields that hold what
somebody said (`WORD_FIELDS`) are kept in the log but reach only a token with the
`transcripts:read` scope; every other subscriber gets the event without them.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

WORD_FIELDS = ("user_text", "reply_text", "words")
"""Fields with residents' (or personas') words: left out unless the token may read transcripts."""


class _Payload(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    pass


class DeviceStatus(_Payload, frozen=True, kw_only=True, tag="device_status"):
    """The device came online, went offline, or became busy (a reply being produced or played)."""

    status: Literal["online", "offline", "busy"]


class TurnFinished(_Payload, frozen=True, kw_only=True, tag="turn_finished"):
    """A turn was answered: spoken (`voice`), typed on the device (`text_input`) or over REST (`dialog`)."""

    session_id: str | None
    persona_id: str | None
    latency_ms: float | None
    """Spoken turns: end of speech to first reply byte sent; typed ones: arrival to reply."""
    source: Literal["voice", "text_input", "dialog"]
    interrupted: bool = False
    user_text: str | None = None
    reply_text: str | None = None


class CommandAcked(_Payload, frozen=True, kw_only=True, tag="command_ack"):
    command_id: str
    command_type: str | None = None


class PersonaSwitched(_Payload, frozen=True, kw_only=True, tag="persona_switch"):
    session_id: str
    persona_id: str
    previous_persona_id: str | None


class HandedOff(_Payload, frozen=True, kw_only=True, tag="handoff"):
    """A session moved between devices (published by the device it arrived on)."""

    session_id: str
    from_device_id: str
    to_device_id: str
    persona_id: str


class ActivityProgress(_Payload, frozen=True, kw_only=True, tag="activity"):
    """A group activity's progress (`EventHub.activity`): started, a round, a step, stopped."""

    activity_id: str
    state: str
    detail: dict[str, str | int | float | bool | None] = {}


class AlertRaised(_Payload, frozen=True, kw_only=True, tag="alert"):
    """An alert rule matched what a resident said (server/alerts)."""

    alert_id: str
    rule_id: str
    severity: Literal["info", "warning", "critical"]
    session_id: str | None
    source: str
    words: str | None = None


class AlertAcked(_Payload, frozen=True, kw_only=True, tag="alert_ack"):
    alert_id: str
    acked_by: str


class ReminderUpdate(_Payload, frozen=True, kw_only=True, tag="reminder"):
    """An occurrence of a reminder changed state (server/reminders): spoken, confirmed, missed,
    unconfirmed (with the alert it raised)."""

    reminder_id: str
    due_at: str
    state: Literal["due", "spoken", "confirmed", "missed", "unconfirmed"]
    alert_id: str | None = None


Payload = (
    DeviceStatus
    | TurnFinished
    | CommandAcked
    | PersonaSwitched
    | HandedOff
    | ActivityProgress
    | AlertRaised
    | AlertAcked
    | ReminderUpdate
)
KINDS = frozenset(
    str(t.__struct_config__.tag)
    for t in (
        DeviceStatus,
        TurnFinished,
        CommandAcked,
        PersonaSwitched,
        HandedOff,
        ActivityProgress,
        AlertRaised,
        AlertAcked,
        ReminderUpdate,
    )
)


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One event as kept in the log."""

    payload: Payload
    device_id: str | None
    group_id: str | None
    at: str
    """When it happened (ISO 8601, UTC)."""

    @property
    def kind(self) -> str:
        return str(self.payload.__struct_config__.tag)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Entry)


def encode_entry(entry: Entry) -> bytes:
    return _encoder.encode(entry)


def decode_entry(data: bytes) -> Entry:
    return _decoder.decode(data)


def event_data(entry: Entry, *, words: bool) -> bytes:
    """The SSE `data:` of an entry: one JSON object (the kind is the SSE `event:` line)."""
    fields: dict[str, Any] = msgspec.to_builtins(entry.payload)
    del fields["event"]
    if not words:
        for name in WORD_FIELDS:
            fields.pop(name, None)
    return _encoder.encode(
        {"device_id": entry.device_id, "group_id": entry.group_id, "at": entry.at, **fields}
    )
