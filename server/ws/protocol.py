"""What a device sends: a tagged union on `type`, decoded once by a module-level decoder.

Incoming messages follow the spec's `WSMessage` (type, payload, timestamp); what the
server sends is in `server.ws.messages`. See README, "Device WebSocket protocol".
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.nesting import MAX_DEPTH, TooDeep, check_depth
from server.schemas.common import Id

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


class AuthPayload(msgspec.Struct, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class AudioStreamPayload(msgspec.Struct):
    audio_b64: str
    sample_rate: int | None = None


class TextInputPayload(msgspec.Struct, forbid_unknown_fields=True):
    text: Text
    session_id: Id | None = None


class ButtonPressPayload(msgspec.Struct, forbid_unknown_fields=True):
    button: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    action: Literal["press", "release", "long_press", "double_press"] = "press"


class HeartbeatPayload(msgspec.Struct):
    status: Literal["online", "busy"] | None = None
    """The device's own view: "busy" while it plays media or is otherwise occupied."""
    t0: float | None = None
    """The device's clock when it sent this heartbeat, ms since the Unix epoch (server/media/clock.py)."""
    t3: float | None = None
    """The device's clock when the `heartbeat_ack` of its previous heartbeat arrived (same units)."""


class AckPayload(msgspec.Struct):
    command_id: str | None = None
    """The command acknowledged; the oldest unacknowledged one when absent."""
    switch_complete: bool | None = None
    latency_ms: float | None = None


class _Incoming(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    timestamp: datetime | None = None


class Auth(_Incoming, tag="auth", kw_only=True):
    payload: AuthPayload


class AudioStream(_Incoming, tag="audio_stream", kw_only=True):
    payload: AudioStreamPayload


class TextInput(_Incoming, tag="text_input", kw_only=True):
    payload: TextInputPayload


class ButtonPress(_Incoming, tag="button_press", kw_only=True):
    payload: ButtonPressPayload


class Heartbeat(_Incoming, tag="heartbeat", kw_only=True):
    payload: HeartbeatPayload = msgspec.field(default_factory=HeartbeatPayload)


class Ack(_Incoming, tag="ack", kw_only=True):
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


Incoming = Auth | AudioStream | TextInput | ButtonPress | Heartbeat | Ack

_decoder = msgspec.json.Decoder(Incoming)


def decode(data: bytes | str) -> Incoming:
    """Decode one device message; raises `msgspec.DecodeError` saying what is wrong and where (a
    `msgspec.ValidationError` for JSON that is not a message), and for JSON nested more than
    `MAX_DEPTH` deep (an ack's free-form payload), which would otherwise hit the recursion limit."""
    try:
        message: Incoming = _decoder.decode(data)
        if isinstance(message, Ack):
            check_depth(message.payload)
    except (TooDeep, RecursionError):
        raise msgspec.DecodeError(f"JSON nests arrays and objects more than {MAX_DEPTH} deep") from None
    return message


def ack_fields(ack: Ack) -> AckPayload:
    """The fields of an ack the server understands; raises `msgspec.ValidationError` if mistyped."""
    return msgspec.convert(ack.payload, AckPayload)
