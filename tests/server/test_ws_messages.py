"""What the server sends a device: the union in `server/ws/messages.py`, its wire form, and the README.

The README's table of server messages ("Device WebSocket protocol") is read and
checked against the union: the same messages, each with its `type`, priority and
payload keys.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple, get_args, get_type_hints

import msgspec

from personas.schema import EspeakVoice
from server.schemas.common import ErrorResponse
from server.ws.commands import (
    BroadcastEvent,
    CommandPayload,
    OperatorLed,
    PersonaSwitchCommand,
    SessionHandoff,
)
from server.ws.messages import (
    AudioChunk,
    AudioChunkPayload,
    Command,
    Error,
    Outgoing,
    StopPlayback,
    Transcript,
    TranscriptPayload,
    VoiceLed,
    VoiceLedPayload,
    encode,
)

README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_HEADER = "| type | priority | payload | what it is |"
FREE_FORM = "fields"
"""A command payload's field whose keys go into the payload as they are (an operator's, a broadcast's)."""


class Row(NamedTuple):
    type: str
    priority: int
    operator_priority: bool
    """The request that sends it may give its own priority."""
    keys: frozenset[str]
    optional: frozenset[str]
    free_form: bool


def _decode(message: Outgoing) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(encode(message))
    return decoded


# The README's table


def _readme_rows() -> list[Row]:
    text = README.read_text()
    section = text[text.index("## Device WebSocket protocol") :]
    section = section[: section.index("\n## ")]
    lines = section[section.index(TABLE_HEADER) :].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        type_cell, priority_cell, payload_cell, _ = (cell.strip() for cell in line.strip("|").split(" | "))
        type_ = re.match(r"`([a-z_]+)`", type_cell)
        priority = re.fullmatch(r"(\d+)(, or the request's `priority`)?", priority_cell)
        assert type_ is not None, line
        assert priority is not None, line
        keys = re.findall(r"`([a-z0-9_]+)`(\??)", payload_cell)
        rows.append(
            Row(
                type=type_.group(1),
                priority=int(priority.group(1)),
                operator_priority=priority.group(2) is not None,
                keys=frozenset(key for key, _ in keys),
                optional=frozenset(key for key, mark in keys if mark),
                free_form=re.search(r"\*[^*`]+\*", payload_cell) is not None,
            )
        )
    return rows


# The union


def _command_row(payload_type: type[CommandPayload]) -> Row:
    fields = msgspec.structs.fields(payload_type)
    return Row(
        type=payload_type.message_type,
        priority=payload_type.default_priority,
        operator_priority=payload_type.operator_priority,
        keys=frozenset(f.encode_name for f in fields if f.name != FREE_FORM) | {"command_id"},
        optional=payload_type.optional_keys,
        free_form=any(f.name == FREE_FORM for f in fields),
    )


def _message_row(message_type: type[Outgoing]) -> Row:
    fields = {f.name: f for f in msgspec.structs.fields(message_type)}
    payload_fields = msgspec.structs.fields(get_type_hints(message_type)["payload"])
    tag = message_type.__struct_config__.tag
    assert isinstance(tag, str)
    return Row(
        type=tag,
        priority=fields["priority"].default,
        operator_priority=False,
        keys=frozenset(f.encode_name for f in payload_fields),
        optional=frozenset(f.encode_name for f in payload_fields if f.default is msgspec.UNSET),
        free_form=False,
    )


def _union_rows() -> list[Row]:
    rows = []
    for message_type in get_args(Outgoing):
        if message_type is Command:
            rows += [_command_row(payload_type) for payload_type in get_args(CommandPayload)]
        else:
            rows.append(_message_row(message_type))
    return rows


def test_readme_table_lists_every_server_message_as_the_union_has_it() -> None:
    readme, union = Counter(_readme_rows()), Counter(_union_rows())
    assert len(union) == 17  # with `close` (WebRTC) and the playback controls
    assert readme - union == Counter(), "in the README, not in server/ws/messages.py"
    assert union - readme == Counter(), "in server/ws/messages.py, not in the README"


def test_every_message_declares_one_priority_on_its_type() -> None:
    for message_type in get_args(Outgoing):
        if message_type is Command:
            continue  # a command's priority is its record's: the payload type's default, or an operator's
        (priority,) = (f for f in msgspec.structs.fields(message_type) if f.name == "priority")
        assert get_args(priority.type) == (priority.default,), message_type


# The wire form: the spec's WSCommand, {"type", "payload", "priority"}


def test_messages_encode_as_the_spec_wscommand() -> None:
    assert (
        encode(StopPlayback()) == b'{"type":"stop_playback","payload":{"reason":"barge_in"},"priority":100}'
    )
    assert _decode(VoiceLed(payload=VoiceLedPayload(state="thinking"))) == {
        "type": "led_control",
        "payload": {"state": "thinking", "source": "voice"},
        "priority": 1,
    }
    chunk = AudioChunkPayload(seq=4, text="Hello.", audio_b64="AAA=", sample_rate=22050, turn_id=None)
    assert _decode(AudioChunk(payload=chunk)) == {
        "type": "audio_response",
        "payload": {
            "final": False,
            "seq": 4,
            "text": "Hello.",
            "audio_b64": "AAA=",
            "encoding": "pcm_s16le",
            "sample_rate": 22050,
            "turn_id": None,
        },
        "priority": 0,
    }
    error = ErrorResponse(error_code="NOT_SUPPORTED", message="No audio", details={}, request_id="req_1")
    assert _decode(Error(payload=error))["payload"] == {
        "error_code": "NOT_SUPPORTED",
        "message": "No audio",
        "details": {},
        "request_id": "req_1",
    }


def test_a_transcript_names_the_turn_it_continues_only_when_it_continues_one() -> None:
    alone = _decode(Transcript(payload=TranscriptPayload(text="Hi there", turn_id=3)))
    assert alone["payload"] == {"text": "Hi there", "final": True, "turn_id": 3}
    going_on = TranscriptPayload(text="Hi there, how are you", turn_id=4, continues_turn_id=3)
    assert _decode(Transcript(payload=going_on))["payload"]["continues_turn_id"] == 3


def test_a_command_goes_out_as_its_type_with_its_id_and_its_recorded_priority() -> None:
    switch = PersonaSwitchCommand(
        persona_id="entertainer",
        previous_persona_id="companion",
        session_id="sess_1",
        preserve_context=False,
        transition_message=None,
        voice_config=EspeakVoice(voice="en-us+f3"),
    )
    message = _decode(Command(payload=switch, command_id="cmd_1", priority=switch.default_priority))
    assert message == {
        "type": "persona_switch",
        "payload": {
            "persona_id": "entertainer",
            "previous_persona_id": "companion",
            "session_id": "sess_1",
            "preserve_context": False,
            "transition_message": None,
            "voice_config": msgspec.to_builtins(switch.voice_config),
            "command_id": "cmd_1",
        },
        "priority": 10,
    }
    assert message["payload"]["voice_config"]["engine"] == "espeak-ng"
    handoff = SessionHandoff(
        role="to", session_id="sess_1", from_device_id="dev_a", to_device_id="dev_b", persona_id="companion"
    )
    sent = _decode(Command(payload=handoff, command_id="cmd_2", priority=5))
    assert sent["type"] == "sync_event"
    assert sent["payload"]["event_type"] == "session_handoff"
    assert "kind" not in sent["payload"]  # the store's tag stays in the store


def test_free_form_fields_cannot_relabel_a_command() -> None:
    led = OperatorLed(fields={"color": "blue", "command_id": "cmd_spoofed"})
    assert _decode(Command(payload=led, command_id="cmd_1", priority=3)) == {
        "type": "led_control",
        "payload": {"color": "blue", "command_id": "cmd_1"},
        "priority": 3,
    }
    event = BroadcastEvent(
        fields={"room": "dining", "event_type": "fire_alarm", "event_id": "evt_spoofed"},
        event_type="meal",
        event_id="evt_1",
    )
    assert _decode(Command(payload=event, command_id="cmd_2", priority=5))["payload"] == {
        "room": "dining",
        "event_type": "meal",
        "event_id": "evt_1",
        "command_id": "cmd_2",
    }
