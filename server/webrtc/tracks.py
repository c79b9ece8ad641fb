"""A WebRTC peer's audio: the reply track the server sends, and the microphone track it reads.

The reply track paces itself: 20 ms frames at 48 kHz against its start time (as aiortc's own
tracks do, so timing never drifts), reply audio while there is some, silence otherwise. A reply
does not wait for the next silent frame's slot: its first frame goes as soon as it is queued, and
the reply keeps that pace (up to a frame ahead of the schedule) until the track falls silent again.
When less than a frame is left, the 48 kHz resampler gives up what it holds, so a reply ends whole
and the next one starts with its own first sample.
The voice loop's paced output (pipeline/graph/output.py) keeps at most its lead queued here, so a
barge-in drops little. The microphone is decoded by aiortc (Opus, 48 kHz), mixed to mono and
brought to the listening stage's 16 kHz here, once, by a filter that holds nothing back (see
`MicDecimator`); audio at another rate goes on as it is, and the listening stage resamples it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt
from av import AudioFrame, Packet

from pipeline.audio import Int16Array, StreamResampler
from server.ws.transport import MicAudio

log = logging.getLogger(__name__)

RATE = 48_000
FRAME_S = 0.020
SAMPLES = int(RATE * FRAME_S)
FRAME_BYTES = SAMPLES * 2
TIME_BASE = fractions.Fraction(1, RATE)
_SILENCE = bytes(FRAME_BYTES)
LISTEN_RATE = 16_000
"""The listening stage's rate (pipeline/graph/listen.py): a microphone at 48 kHz is brought to it here."""


def opus_silence() -> bytes:
    """One 20 ms Opus packet of digital silence, as aiortc's encoder makes it (in its steady state)."""
    encoder = OpusEncoder()
    payloads: list[bytes] = []
    for pts in range(0, 10 * SAMPLES, SAMPLES):
        payloads += encoder.encode(silent_frame(pts))[0]
    return payloads[-1]


def silent_frame(pts: int) -> AudioFrame:
    frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
    frame.planes[0].update(_SILENCE)
    frame.sample_rate = RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


def silence_packet(payload: bytes, pts: int) -> Packet[Any]:
    """Silence, already encoded: aiortc sends a packet as it is, where it would encode a frame (and
    measure its level) on a thread of the default executor, 50 times a second for every idle peer."""
    packet = Packet(payload)
    packet.pts = pts
    packet.time_base = TIME_BASE
    return packet


class ReplyTrack(MediaStreamTrack):
    """The outgoing audio track: the persona's voice, in real time (the voice loop's `ReplyAudio`)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queued = bytearray()
        """48 kHz PCM16 mono not yet sent."""
        self._resampler = StreamResampler(RATE)
        self._start: float | None = None
        self._pts = 0
        self._ahead_s = 0.0
        """How far the reply playing now runs ahead of the schedule (less than a frame)."""
        self._queued_event = asyncio.Event()
        self._silence = opus_silence()

    @property
    def queued_s(self) -> float:
        return len(self._queued) / (2 * RATE)

    def play(self, audio: bytes, sample_rate: int) -> None:
        pcm = np.frombuffer(audio, dtype="<i2")
        self._queued += self._resampler.process(pcm, sample_rate).astype("<i2", copy=False).tobytes()
        if self._queued:
            self._queued_event.set()

    def drop(self) -> None:
        self._queued.clear()
        self._resampler = StreamResampler(RATE)  # nothing of the cut reply comes out after it

    async def recv(self) -> AudioFrame | Packet[Any]:
        """The next 20 ms, when due: reply audio, or silence (encoded once for all: see `silence_packet`;
        the first frame is encoded, so aiortc's encoder numbers the packets from it). A reply queued
        while the track waits to send silence goes at once, not at the silent frame's slot: a reply
        would otherwise wait up to 20 ms (10 on average) before its first frame left."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
            return silent_frame(0)
        self._pts += SAMPLES
        due = self._start + self._pts / RATE
        if len(self._queued) < FRAME_BYTES:
            self._drain_resampler()
        if self._queued:
            wait = due - self._ahead_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        else:
            self._ahead_s = 0.0  # silence keeps the schedule: the RTP clock never runs ahead of time
            wait = due - time.monotonic()
            if wait > 0:
                self._queued_event.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._queued_event.wait()
            if self._queued:
                self._ahead_s = max(0.0, due - time.monotonic())
        if not self._queued:
            return silence_packet(self._silence, self._pts)
        data = bytes(self._queued[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
        del self._queued[:FRAME_BYTES]
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(data)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        return frame

    def _drain_resampler(self) -> None:
        """The track is about to run out: what the resampler still holds of the reply goes now.

        soxr keeps back 5 to 40 ms of a stream (it depends on where the chunks fell); without this the
        end of every reply stayed in it, unheard, until the next reply came out behind it, 5-40 ms late
        (issue 13's onset delay). A reply that is still coming starts the filter afresh."""
        self._queued += self._resampler.flush().astype("<i2", copy=False).tobytes()


class PromptAudioBuffer:
    """The jitter buffer of a WebRTC audio track, in place of aiortc's.

    aiortc's audio buffer holds 4 frames (80 ms) before decoding, and even with less it releases a
    frame only once the next one has come: every device's speech would reach the listening stage
    80 (or 20) ms late, so the end of each turn too. An Opus packet is a whole frame, so this one
    releases a packet as soon as it arrives, unless an older one (a late, reordered packet, or a
    duplicate) comes after a newer one: then it is dropped, as lost. On a LAN that is rare; a lost
    20 ms of a turn does not change what is heard in it.
    """

    def __init__(self) -> None:
        self._last: int | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        sequence = packet.sequence_number
        if self._last is not None and not uint16_gt(sequence, self._last):
            return False, None
        self._last = sequence
        data: bytes = getattr(packet, "_data", b"")  # the payload, depacketised by the receiver
        return False, JitterFrame(data=data, timestamp=packet.timestamp)


def prompt_audio(receiver: RTCRtpReceiver) -> None:
    """Give an audio receiver a `PromptAudioBuffer` (before any packet arrives)."""
    # aiortc has no setting for it: its receiver's (name-mangled) buffer is replaced.
    setattr(receiver, "_RTCRtpReceiver__jitter_buffer", PromptAudioBuffer())  # noqa: B010  # a private attribute, named as Python mangles it


def mono(frame: AudioFrame) -> Int16Array:
    """A decoded frame's samples as PCM16 mono (channels averaged)."""
    samples = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if channels > 1:
        # Packed formats interleave the channels in one row; planar ones give a row per channel.
        rows = samples.reshape(channels, -1) if frame.format.is_planar else samples.reshape(-1, channels).T
        mixed: Int16Array = (rows.astype(np.int32).sum(axis=0) // channels).astype(np.int16)
        return mixed
    single: Int16Array = samples.reshape(-1).astype(np.int16, copy=False)
    return single


def _lowpass(taps: int, cutoff_hz: float, rate: int) -> np.ndarray:
    """A linear-phase low-pass FIR (Kaiser-windowed sinc, about 85 dB down), unity gain at 0 Hz."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = np.sinc(2 * cutoff_hz / rate * n) * np.kaiser(taps, 7.0)
    filtered: np.ndarray = (kernel / kernel.sum()).astype(np.float32)
    return filtered


class MicDecimator:
    """48 kHz → 16 kHz for a WebRTC microphone, holding nothing back.

    The listening stage's resampler (soxr, high quality) works in blocks: it keeps back 7 to 36 ms
    of a 48 kHz stream fed 20 ms at a time (18 on average), so the VAD heard a WebRTC device's end of
    speech that much later than a WebSocket device's, which sends 16 kHz. Here each 20 ms frame comes
    out whole at once, through a 289-tap low-pass (flat to 7 kHz, -6 dB at 7.5 kHz, below -70 dB
    from 8 kHz), 3 ms of filter delay instead, at about 20 µs a frame (digital silence: 6 µs).
    """

    FACTOR = 3
    TAPS = _lowpass(289, 7_500.0, RATE)

    def __init__(self) -> None:
        # Reversed and padded to a multiple of 3 in front, then split by phase (a polyphase filter:
        # only the kept third of the outputs is computed).
        padded = np.concatenate([np.zeros(-len(self.TAPS) % self.FACTOR, np.float32), self.TAPS[::-1]])
        self._phases = [padded[p :: self.FACTOR] for p in range(self.FACTOR)]
        self._history = np.zeros(len(padded) - 1, dtype=np.float32)
        self._phase = 0
        """Which of the next frame's samples is the first one kept (every third is)."""

    def process(self, pcm: Int16Array) -> Int16Array:
        signal = np.concatenate([self._history, pcm.astype(np.float32)])
        self._history = signal[len(signal) - len(self._history) :]
        count = -(-(len(pcm) - self._phase) // self.FACTOR)  # outputs at samples phase, phase + 3, ...
        out = np.zeros(max(0, count), dtype=np.float32)
        if count > 0 and signal.any():  # digital silence (an idle device) costs nothing to filter
            width = len(self._phases[0])
            for p, taps in enumerate(self._phases):
                column = signal[self._phase + p :: self.FACTOR][: count + width - 1]
                out += np.correlate(column, taps, mode="valid")
        self._phase = (self._phase - len(pcm)) % self.FACTOR
        pcm16: Int16Array = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return pcm16


async def read_microphone(track: MediaStreamTrack, deliver: Callable[[MicAudio], None]) -> None:
    """Hand every frame of the peer's microphone track to `deliver`, until the track ends: at the
    listening stage's 16 kHz if it came at 48 kHz (as aiortc decodes Opus), else at its own rate."""
    decimator = MicDecimator()
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if not isinstance(frame, AudioFrame) or frame.format.name not in ("s16", "s16p"):
            continue
        if frame.sample_rate == RATE:
            deliver(MicAudio(pcm=decimator.process(mono(frame)), sample_rate=LISTEN_RATE))
        else:
            deliver(MicAudio(pcm=mono(frame), sample_rate=frame.sample_rate))
