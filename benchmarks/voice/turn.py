"""One spoken turn, measured as a device hears it: from the end of the turn to the first byte of the answer.

The end of the turn is the clip's labelled `turn_end_s` (the human clips,
`audio_fixtures.human`), or else the end of speech found from the audio (the
end of the last 10 ms frame above -45 dBFS, the rule `audio_fixtures.make_fixtures`
uses for the manifest); its wall-clock time is the moment that sample was
captured by a device that sends each 20 ms frame as soon as it is full. Reply
audio (this server's `audio_response` with audio, the pipecat reference bot's
`OutputAudioRawFrame`) is attributed by `benchmarks.lib.attribution`:
voice-to-voice runs to the first audio of the first reply that starts at or
after the turn end; audio before it is talk-over; two replies to one clip are
a double answer. A turn that brings no reply audio at all raises
`NoAudioError`: a run never reports a time for an answer that was not heard.
"""

from __future__ import annotations

import base64
import contextlib
import time
from typing import Protocol

import msgspec

from audio_fixtures import SAMPLE_RATE
from benchmarks.lib.attribution import ReplyAudio, attribute
from benchmarks.lib.clips import Clip, ClipPart
from benchmarks.lib.device import DeviceError, DeviceSocket, Received
from benchmarks.lib.microphone import Microphone
from benchmarks.lib.voice_link import CompanionLink, Reply, VoiceLink, has_audio
from tests.support.wer import word_error_rate

__all__ = ["NoAudioError", "TurnResult", "measure_turn"]


class NoAudioError(Exception):
    """The server sent no reply audio for a turn: the benchmark fails rather than report a time."""


class TurnResult(msgspec.Struct, kw_only=True):
    device: int
    """The benchmark's own number for the device (0, 1, …)."""
    clip: str
    turn: int
    """The device's turn number, from 0; the first `warmup` turns are not counted."""
    warmup: bool
    speech_end_s: float | None
    voice_to_voice_ms: float
    """End of the turn → first audio of the first reply that starts at or after it. When no reply
    starts after it (`answered` false), the first reply audio of all, so negative: heard early."""
    server_ms: dict[str, float]
    """The server's own breakdown (`latency_ms` of the final `audio_response`), from its VAD's speech end."""
    transcript: str
    wer: float | None
    reply_text: str
    reply_audio_s: float
    transcripts: int
    """`transcript` messages in the turn: more than one means the turn was split."""
    transcript_available: bool = True
    """False when the bot's protocol does not say what it heard (then `transcript` is empty, `wer` None)."""
    part: ClipPart = "files"
    turn_end_s: float | None = None
    """The clip's labelled turn end (None: voice-to-voice counts from `speech_end_s`)."""
    answered: bool = True
    """A reply started at or after the end of the turn."""
    talk_over_s: float = 0.0
    """Seconds of reply audio received while the person was still mid-turn."""
    replies: int = 1
    """Distinct replies with audio to this clip: more than one is a double answer."""


async def measure_turn(
    device: VoiceLink | DeviceSocket,
    microphone: Microphone,
    clip: Clip,
    *,
    device_number: int,
    turn: int,
    warmup: bool,
    reply_timeout_s: float,
    no_reply_ok: bool = False,
) -> TurnResult:
    """Say `clip`, keep the microphone streaming silence, and time the reply; wait until it has played.

    With `no_reply_ok`, a clip that brings no reply audio at all within `reply_timeout_s` is a
    result (`replies` 0, not timed) instead of `NoAudioError`.

    `device` is a `VoiceLink` (the driver of the bot's protocol); a bare
    `DeviceSocket` is driven as this server's device.
    """
    link = CompanionLink(device) if isinstance(device, DeviceSocket) else device
    since = link.mark()
    utterance = await microphone.say(clip.pcm, mark_sample=clip.end_sample)
    end_at = utterance.mark_at
    try:
        answer = await _answer(link, clip, since, end_at, utterance.ended + reply_timeout_s)
    except NoAudioError:
        if not no_reply_ok:
            raise
        return _unanswered(
            clip, device_number=device_number, turn=turn, warmup=warmup, waited_s=reply_timeout_s
        )
    try:
        reply = await _reply(link, since, answer)
    except DeviceError as exc:
        raise NoAudioError(f"the reply to {clip.name!r} never finished: {exc}") from None
    found = attribute(reply_audio(link, since), end_at)
    heard_from = found.answer or found.first
    assert heard_from is not None  # `_answer` returned some reply audio
    transcripts = _transcripts(link, since, reply)
    transcript = " ".join(transcripts or []).strip()
    heard = transcripts is not None
    return TurnResult(
        device=device_number,
        clip=clip.name,
        turn=turn,
        warmup=warmup,
        speech_end_s=clip.speech_end_s,
        voice_to_voice_ms=round((heard_from.at - end_at) * 1000, 1),
        server_ms=reply.server_ms,
        transcript=transcript,
        wer=round(word_error_rate(clip.reference, transcript), 3)
        if clip.reference is not None and heard
        else None,
        reply_text=reply.reply_text,
        reply_audio_s=round(reply.audio_s, 2),
        transcripts=len(transcripts) if transcripts is not None else 0,
        transcript_available=heard,
        part=clip.part,
        turn_end_s=clip.turn_end_s,
        answered=found.answer is not None,
        talk_over_s=found.talk_over_s,
        replies=found.replies,
    )


def _unanswered(clip: Clip, *, device_number: int, turn: int, warmup: bool, waited_s: float) -> TurnResult:
    """A clip the bot never answered: counted, not timed (`voice_to_voice_ms` is the time waited)."""
    return TurnResult(
        device=device_number,
        clip=clip.name,
        turn=turn,
        warmup=warmup,
        speech_end_s=clip.speech_end_s,
        voice_to_voice_ms=round(waited_s * 1000, 1),
        server_ms={},
        transcript="",
        wer=None,
        reply_text="",
        reply_audio_s=0.0,
        transcripts=0,
        transcript_available=False,
        part=clip.part,
        turn_end_s=clip.turn_end_s,
        answered=False,
        replies=0,
    )


class _KnowsReplies(Protocol):
    """A `VoiceLink` that says which reply each piece of audio belongs to (the pipecat link)."""

    def reply_audio(self, since: int) -> list[ReplyAudio]: ...


def reply_audio(link: VoiceLink, since: int) -> list[ReplyAudio]:
    """Every piece of reply audio from `since` on, with the reply it belongs to."""
    if isinstance(link, CompanionLink):
        return companion_reply_audio(link.socket.messages[since:])
    assert hasattr(link, "reply_audio"), f"{type(link).__name__} cannot attribute reply audio"
    knows: _KnowsReplies = link
    return knows.reply_audio(since)


def companion_reply_audio(messages: list[Received]) -> list[ReplyAudio]:
    """This server's reply audio: `audio_response` pieces, a reply being its `turn_id`."""
    return [
        ReplyAudio(m.at, _seconds(m), m.payload.get("turn_id"), m.index) for m in messages if has_audio(m)
    ]


def _seconds(message: Received) -> float:
    data = message.payload.get("audio_b64") or ""
    return len(base64.b64decode(data)) / 2 / int(message.payload.get("sample_rate") or SAMPLE_RATE)


async def _answer(link: VoiceLink, clip: Clip, since: int, end_at: float, deadline: float) -> Received:
    """The first audio of the reply that starts after the turn end; failing that (by `deadline`),
    the first reply audio of all (a reply begun early that went on); `NoAudioError` if none came."""
    socket = _socket(link)

    def is_answer(message: Received) -> bool:
        if message.at < end_at:
            return False
        found = attribute(reply_audio(link, since), end_at).answer
        return found is not None and found.index <= message.index

    with contextlib.suppress(DeviceError):
        await socket.wait_for(is_answer, since=since, timeout=max(0.0, deadline - time.perf_counter()))
    found = attribute(reply_audio(link, since), end_at)
    heard = found.answer or found.first
    if heard is None:
        raise NoAudioError(
            f"server sent no audio: clip {clip.name!r} on device {link.device_id} got no reply audio "
            f"within the reply timeout; it sent {link.seen(since)[-12:]}"
        )
    return socket.messages[heard.index]


async def _reply(link: VoiceLink, since: int, answer: Received) -> Reply:
    """Wait for the reply that began with `answer` to end (this server: its own final message)."""
    if isinstance(link, CompanionLink):
        # The final of a reply cut before the turn ended must not be taken for this one's.
        return await link.reply(since=answer.index, first=answer)
    return await link.reply(since=since, first=answer)


def _transcripts(link: VoiceLink, since: int, reply: Reply) -> list[str] | None:
    if isinstance(link, CompanionLink):
        return [
            str(m.payload.get("text", "")) for m in link.socket.messages[since:] if m.type == "transcript"
        ]
    return reply.transcripts


def _socket(link: VoiceLink) -> DeviceSocket:
    socket = getattr(link, "socket", None)
    assert isinstance(socket, DeviceSocket), f"{type(link).__name__} has no socket"
    return socket
