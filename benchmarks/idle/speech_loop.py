"""One device's microphone in the capacity benchmark's speech mode: fixtures said in a loop, a turn at a time.

A device waits its staggered start, says a fixture, streams silence until the
reply has been heard and played (its final `audio_response`, then the LED back
to `listening`), streams `gap_s` more silence, and says the next fixture. So
the server runs VAD, end of turn, ASR, a reply and its voice for every device,
and no turn is a barge-in. The ticker of `benchmarks.idle.fleet` asks for one
frame per 20 ms; replies are seen through the socket's messages.

Each utterance is counted in the window its speech ended in; its reply is
timed from that moment (as a device sending 20 ms frames would have captured
it) to the first reply audio. An utterance with no reply audio within
`reply_timeout_s` is a missed reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from benchmarks.idle.window import Window
from benchmarks.lib.clips import Clip
from benchmarks.lib.device import Received
from benchmarks.lib.voice_link import has_audio

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 320
SILENCE = bytes(2 * FRAME_SAMPLES)
STAGGER_S = 6.0
"""First utterances spread over this many seconds (about one turn), so devices do not all talk at once."""
PLAYED_TIMEOUT_S = 60.0
"""After the final reply message, the longest wait for the LED to say the reply has played."""


@dataclass(frozen=True)
class SpokenClip:
    name: str
    frames: list[bytes]
    end_frame: int
    """The frame holding the end of speech."""
    end_after_s: float
    """Audio after the end of speech in that frame."""


def spoken(clip: Clip) -> SpokenClip:
    """A clip cut into 20 ms PCM16 frames (the last one padded with silence)."""
    pcm = clip.pcm
    padded = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME_SAMPLES, dtype=np.int16)]).astype("<i2")
    frames = [chunk.tobytes() for chunk in padded.reshape(-1, FRAME_SAMPLES)]
    end = max(1, clip.end_sample)
    end_frame = (end - 1) // FRAME_SAMPLES
    return SpokenClip(clip.name, frames, end_frame, ((end_frame + 1) * FRAME_SAMPLES - end) / SAMPLE_RATE)


def stagger(index: int) -> float:
    """Device `index`'s delay before its first utterance: spread evenly however many devices there are."""
    return STAGGER_S * ((index * 0.6180339887) % 1.0)


@dataclass
class _Utterance:
    spoken_at: float
    """When the end of speech was captured (perf_counter)."""
    window: Window | None
    replied: bool = False


@dataclass
class SpeechLoop:
    clips: list[SpokenClip]
    first_at: float
    """perf_counter time of the first utterance."""
    gap_s: float
    reply_timeout_s: float
    state: str = "waiting"
    """waiting (silence until `next_at`) → speaking → awaiting_reply (first audio) → awaiting_played
    (final message) → awaiting_listening (the LED: the reply has played) → waiting."""
    next_at: float = 0.0
    clip_index: int = 0
    frame_index: int = 0
    utterance: _Utterance | None = None
    deadline: float = 0.0
    replies_ms: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.next_at = self.first_at

    def frame(self, window: Window | None) -> bytes:
        """The next 20 ms frame to send now; advances the loop."""
        now = time.perf_counter()
        if self.state == "waiting" and now >= self.next_at:
            self.state, self.frame_index = "speaking", 0
        elif self.state.startswith("awaiting") and now >= self.deadline:
            self._give_up(now)
        if self.state != "speaking":
            return SILENCE
        clip = self.clips[self.clip_index % len(self.clips)]
        frame = clip.frames[self.frame_index]
        if self.frame_index == clip.end_frame:
            self._spoken(now - clip.end_after_s, window)
        self.frame_index += 1
        if self.frame_index >= len(clip.frames):
            self.clip_index += 1
            self.state = "awaiting_reply"
            self.deadline = self.utterance.spoken_at + self.reply_timeout_s if self.utterance else now
        return frame

    def on_message(self, message: Received) -> None:
        utterance = self.utterance
        if self.state == "awaiting_reply" and utterance is not None and has_audio(message):
            utterance.replied = True
            if utterance.window is not None:
                utterance.window.replied(round((message.at - utterance.spoken_at) * 1000, 1))
            self.state, self.deadline = "awaiting_played", message.at + PLAYED_TIMEOUT_S
        elif self.state == "awaiting_reply" and _is_final(message):
            self._give_up(message.at)  # the reply ended without audio
        elif self.state == "awaiting_played" and _is_final(message):
            self.state = "awaiting_listening"
            self.deadline = message.at + PLAYED_TIMEOUT_S
        elif self.state == "awaiting_listening" and _is_listening(message):
            self._rest(message.at)

    def _spoken(self, at: float, window: Window | None) -> None:
        self.utterance = _Utterance(at, window)
        if window is not None:
            window.utterances += 1
            window.replies_in_flight += 1

    def _give_up(self, now: float) -> None:
        """No reply audio (or no end of playback) in time: count a missed reply, rest, talk again."""
        utterance = self.utterance
        if utterance is not None and not utterance.replied and utterance.window is not None:
            utterance.window.missed()
        self._rest(now)

    def _rest(self, now: float) -> None:
        self.utterance = None
        self.state, self.next_at = "waiting", now + self.gap_s


def _is_final(message: Received) -> bool:
    return message.type == "audio_response" and message.payload.get("final") is True


def _is_listening(message: Received) -> bool:
    return message.type == "led_control" and message.payload.get("state") == "listening"
