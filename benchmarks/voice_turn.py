"""One spoken turn, measured as a device hears it: from the end of speech to the first byte of the reply.

The end of speech is found from the audio itself (the end of the last 10 ms
frame above -45 dBFS, the rule `audio_fixtures.make_fixtures` uses for the
manifest), and its wall-clock time is the moment that sample was captured by a
device that sends each 20 ms frame as soon as it is full. Voice-to-voice runs
from then to the arrival of the first message that carries reply audio (this
server's `audio_response` with audio, the pipecat reference bot's
`OutputAudioRawFrame`: which one is the `VoiceLink`'s business). A turn whose
reply brings no audio raises `NoAudioError`: a run never reports a time for an
answer that was not heard.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import numpy as np

from audio_fixtures import SAMPLE_RATE, load_fixtures, load_manifest
from audio_fixtures.make_fixtures import active_frames, speech_end_s
from benchmarks.device_link import DeviceError, DeviceSocket, Received
from benchmarks.microphone import Int16, Microphone
from benchmarks.voice_link import CompanionLink, VoiceLink, has_audio
from pipeline.audio import pcm16_from_wav, resample
from tests.support.wer import word_error_rate

__all__ = ["Clip", "NoAudioError", "TurnResult", "has_audio", "load_clips", "measure_turn"]


class NoAudioError(Exception):
    """The server sent no reply audio for a turn: the benchmark fails rather than report a time."""


class Clip(msgspec.Struct, frozen=True):
    """A user turn to speak: 16 kHz int16 mono, where its speech ends, and what it says when known."""

    name: str
    pcm: Int16
    speech_end_s: float | None
    """None when no 10 ms frame is above the threshold: the whole file is silence."""
    reference: str | None = None

    @property
    def end_sample(self) -> int:
        end = self.speech_end_s if self.speech_end_s is not None else len(self.pcm) / SAMPLE_RATE
        return min(len(self.pcm), round(end * SAMPLE_RATE))


class TurnResult(msgspec.Struct, kw_only=True):
    device: int
    """The benchmark's own number for the device (0, 1, …)."""
    clip: str
    turn: int
    """The device's turn number, from 0; the first `warmup` turns are not counted."""
    warmup: bool
    speech_end_s: float | None
    voice_to_voice_ms: float
    """End of speech → first reply audio received."""
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


def find_speech_end(pcm: Int16) -> float | None:
    """Seconds into `pcm` (16 kHz) where the last 10 ms frame above -45 dBFS ends; None for silence."""
    if len(active_frames(pcm.astype(np.float32) / 32768.0)) == 0:
        return None
    return speech_end_s(pcm)


def load_clips(paths: list[Path] | None = None) -> list[Clip]:
    """The given WAV files (any supported rate, resampled to 16 kHz), or every committed fixture.

    A file's reference text comes from the fixtures' manifest (by file name) or
    from a `.txt` file beside it; without either, no WER is computed for it.
    """
    if not paths:
        return [Clip(f.name, f.pcm, find_speech_end(f.pcm), f.text) for f in load_fixtures()]
    known = {Path(e.file).stem: e.text for e in load_manifest()}
    return [_clip_from_file(path, known) for path in paths]


def _clip_from_file(path: Path, known: dict[str, str]) -> Clip:
    pcm, rate = pcm16_from_wav(path.read_bytes())
    if rate != SAMPLE_RATE:
        pcm = resample(pcm, rate, SAMPLE_RATE)
    sidecar = path.with_suffix(".txt")
    reference = sidecar.read_text().strip() if sidecar.exists() else known.get(path.stem)
    return Clip(path.stem, pcm, find_speech_end(pcm), reference)


async def measure_turn(
    device: VoiceLink | DeviceSocket,
    microphone: Microphone,
    clip: Clip,
    *,
    device_number: int,
    turn: int,
    warmup: bool,
    reply_timeout_s: float,
) -> TurnResult:
    """Say `clip`, keep the microphone streaming silence, and time the reply; wait until it has played.

    `device` is a `VoiceLink` (the driver of the bot's protocol); a bare
    `DeviceSocket` is driven as this server's device.
    """
    link = CompanionLink(device) if isinstance(device, DeviceSocket) else device
    since = link.mark()
    utterance = await microphone.say(clip.pcm, mark_sample=clip.end_sample)
    first = await _first_audio(link, clip, since, utterance.ended + reply_timeout_s)
    try:
        reply = await link.reply(since=since, first=first)
    except DeviceError as exc:
        raise NoAudioError(f"the reply to {clip.name!r} never finished: {exc}") from None
    transcript = " ".join(reply.transcripts or []).strip()
    heard = reply.transcripts is not None
    return TurnResult(
        device=device_number,
        clip=clip.name,
        turn=turn,
        warmup=warmup,
        speech_end_s=clip.speech_end_s,
        voice_to_voice_ms=round((first.at - utterance.mark_at) * 1000, 1),
        server_ms=reply.server_ms,
        transcript=transcript,
        wer=round(word_error_rate(clip.reference, transcript), 3)
        if clip.reference is not None and heard
        else None,
        reply_text=reply.reply_text,
        reply_audio_s=round(reply.audio_s, 2),
        transcripts=len(reply.transcripts) if heard else 0,
        transcript_available=heard,
    )


async def _first_audio(link: VoiceLink, clip: Clip, since: int, deadline: float) -> Received:
    try:
        remaining = max(0.0, deadline - time.perf_counter())
        return await link.first_audio(since=since, timeout=remaining)
    except DeviceError as exc:
        raise NoAudioError(
            f"server sent no audio: clip {clip.name!r} on device {link.device_id} got no reply audio "
            f"({exc}); it sent {link.seen(since)[-12:]}"
        ) from None
