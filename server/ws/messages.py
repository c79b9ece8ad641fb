"""What the server sends a device: one union of Structs, encoded by one module-level encoder.

Each message is the spec's `WSCommand`, `{"type": …, "payload": {…}, "priority": n}`:
`type` is the Struct's tag, `payload` a Struct of its own, and `priority` is
declared once, on the type, as a `Literal` field with its only value (so msgspec
writes it in the same pass, and a call site cannot give another). Higher goes
out first (`DeviceConnection` keeps a priority outbox). `Message`s go by
`DeviceConnection.send`; commands the device acknowledges travel as `Command`
(by `send_command`, which remembers them for the ack), at the priority recorded
with the command.

The README's table ("Device WebSocket protocol") is checked against this union
by `tests/server/test_ws_messages.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec

from pipeline.graph.events import LedState
from pipeline.graph.timeline import EndRule
from server.schemas.common import ErrorResponse
from server.ws.commands import CommandPayload, CommandType, wire_payload


class _Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class AudioChunkPayload(msgspec.Struct, frozen=True, kw_only=True):
    final: Literal[False] = False
    seq: int
    text: str
    """The clause this audio speaks."""
    audio_b64: str
    encoding: Literal["pcm_s16le"] = "pcm_s16le"
    sample_rate: int
    turn_id: int | None


class AudioChunk(_Message, tag="audio_response", frozen=True, kw_only=True):
    """A piece of a spoken reply, sent as soon as the voice produces it."""

    payload: AudioChunkPayload
    priority: Literal[0] = 0


class AudioFinalPayload(msgspec.Struct, frozen=True, kw_only=True):
    final: Literal[True] = True
    text: str
    audio_url: str
    sample_rate: int
    persona_id: str
    turn_id: int | None
    latency_ms: dict[str, float]
    turn_end_rule: EndRule | None


class AudioFinal(_Message, tag="audio_response", frozen=True, kw_only=True):
    """The end of a spoken reply: its whole text and a URL of its whole audio."""

    payload: AudioFinalPayload
    priority: Literal[0] = 0


class TextReplyPayload(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    audio_url: None = None
    final: Literal[True] = True
    session_id: str
    persona_id: str
    latency_ms: int
    tokens_used: int


class TextReply(_Message, tag="audio_response", frozen=True, kw_only=True):
    """A reply without voice models: its text only, in one message."""

    payload: TextReplyPayload
    priority: Literal[0] = 0


class TranscriptPayload(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    final: Literal[True] = True
    turn_id: int
    continues_turn_id: int | msgspec.UnsetType = msgspec.UNSET
    """The turn this one takes over (the user went on talking); absent otherwise."""


class Transcript(_Message, tag="transcript", frozen=True, kw_only=True):
    payload: TranscriptPayload
    priority: Literal[0] = 0


class StopPlaybackPayload(msgspec.Struct, frozen=True, kw_only=True):
    reason: Literal["barge_in"] = "barge_in"


class StopPlayback(_Message, tag="stop_playback", frozen=True, kw_only=True):
    """Drop the reply audio buffered: ahead of everything queued."""

    payload: StopPlaybackPayload = StopPlaybackPayload()
    priority: Literal[100] = 100


class VoiceLedPayload(msgspec.Struct, frozen=True, kw_only=True):
    state: LedState
    source: Literal["voice"] = "voice"


class VoiceLed(_Message, tag="led_control", frozen=True, kw_only=True):
    """Where the voice loop is in a turn; ahead of audio, so the LED never lags the sound."""

    payload: VoiceLedPayload
    priority: Literal[1] = 1


class ConnectedPayload(msgspec.Struct, frozen=True, kw_only=True):
    device_id: str
    instance_id: str
    active_persona_id: str | None
    active_session_id: str | None
    heartbeat_interval_s: float
    server_time: str
    """ISO 8601 (Python's `isoformat()`)."""


class Connected(_Message, tag="connected", frozen=True, kw_only=True):
    payload: ConnectedPayload
    priority: Literal[0] = 0


class HeartbeatAckPayload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    server_time: str
    """ISO 8601 (Python's `isoformat()`)."""
    t0: float | None = None
    """The heartbeat's own `t0`, echoed; with `t1` and `t2` only when the heartbeat carried one."""
    t1: float | None = None
    """The server's clock when the heartbeat arrived, ms since the Unix epoch."""
    t2: float | None = None
    """The server's clock when this ack was sent (same units)."""


class HeartbeatAck(_Message, tag="heartbeat_ack", frozen=True, kw_only=True):
    payload: HeartbeatAckPayload
    priority: Literal[0] = 0


class Error(_Message, tag="error", frozen=True, kw_only=True):
    """The spec's error body; the connection stays open unless a close follows."""

    payload: ErrorResponse
    priority: Literal[0] = 0


class ClosedPayload(msgspec.Struct, frozen=True, kw_only=True):
    code: int
    """The WebSocket's close code for the same condition (README, "Close codes")."""
    reason: str


class Closed(_Message, tag="close", frozen=True, kw_only=True):
    """WebRTC only, the data channel's last message: the server closes the peer connection, and why
    (a WebSocket says it in its close frame)."""

    payload: ClosedPayload
    priority: Literal[0] = 0


class _CommandWire(msgspec.Struct, frozen=True, kw_only=True):
    type: CommandType
    payload: dict[str, Any]
    priority: int


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded command; the device names its `command_id` in its `ack`.

    It goes out as its payload's `message_type`, with the payload's fields and
    `command_id`, at the priority it was recorded with.
    """

    payload: CommandPayload
    command_id: str
    priority: int

    def wire(self) -> _CommandWire:
        # The command's own id last: an operator's payload cannot relabel it.
        payload = {**wire_payload(self.payload), "command_id": self.command_id}
        return _CommandWire(type=self.payload.message_type, payload=payload, priority=self.priority)


Message = (
    AudioChunk
    | AudioFinal
    | TextReply
    | Transcript
    | StopPlayback
    | VoiceLed
    | Connected
    | HeartbeatAck
    | Error
    | Closed
)
"""What the server sends on its own account (`DeviceConnection.send`); commands go by `send_command`."""
Outgoing = Message | Command
"""Everything the server sends a device."""

_encoder = msgspec.json.Encoder()

encode_message: Callable[[Message], bytes] = _encoder.encode
"""The encoder's own method: nothing between the hot path (audio chunks, ~50/s a device) and msgspec."""


def encode_command(command: Command) -> bytes:
    return _encoder.encode(command.wire())


def encode(message: Outgoing) -> bytes:
    """The message as the device receives it."""
    if isinstance(message, Command):
        return encode_command(message)
    return encode_message(message)
