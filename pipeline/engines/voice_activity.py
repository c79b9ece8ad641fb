"""What the graph asks of a voice-activity engine, and what a stream of it decides.

A `VoiceActivityDetector` is shared by every session and opens one light
`VoiceActivityStream` per session; a stream takes 16 kHz mono audio and decides,
window by window (512 samples, 32 ms), where speech starts, pauses, resumes and
stops (`VADEvent`), with the thresholds and timings of its `VADParams`. The engine
is Silero's (`pipeline.engines.vad`).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import Literal, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
WINDOW = 512
WINDOW_S = WINDOW / SAMPLE_RATE

Float32Array = npt.NDArray[np.float32]


class VADParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Thresholds and timings of one stream; durations are rounded to whole 32 ms windows."""

    start_threshold: float = 0.5
    stop_threshold: float = 0.35
    min_speech_ms: float = 100.0
    stop_silence_ms: float = 200.0
    energy_floor_dbfs: float = -60.0

    def __post_init__(self) -> None:
        if not 0.0 < self.stop_threshold <= self.start_threshold <= 1.0:
            raise ValueError("VADParams needs 0 < stop_threshold <= start_threshold <= 1")
        if self.min_speech_ms < 0 or self.stop_silence_ms < 0:
            raise ValueError("VADParams durations must not be negative")

    @property
    def min_speech_windows(self) -> int:
        return max(1, round(self.min_speech_ms / 1000 / WINDOW_S))

    @property
    def stop_silence_windows(self) -> int:
        return max(1, round(self.stop_silence_ms / 1000 / WINDOW_S))

    @property
    def energy_floor_mean_square(self) -> float:
        return math.pow(10.0, self.energy_floor_dbfs / 10.0)


EventKind = Literal["speech_started", "pause_started", "speech_resumed", "speech_stopped"]


class VADEvent(msgspec.Struct, frozen=True):
    """`at_s`: stream time the event was decided (end of the window that decided it).

    `edge_s`: stream time of the edge it reports: where speech began (started,
    resumed) or ended (pause_started, and speech_stopped with the same value).
    """

    kind: EventKind
    at_s: float
    edge_s: float


class VoiceActivityStream(Protocol):
    """One device's stream of speech/silence decisions: what the listening stage feeds.

    16 kHz mono audio in, in chunks of any size, one feed at a time; out, the
    `VADEvent`s the chunk decided, in order.
    """

    def feed_async(self, pcm16k: npt.NDArray[np.int16] | Float32Array) -> Awaitable[list[VADEvent]]: ...

    @property
    def starting(self) -> bool:
        """Speech may be beginning: a window above the start threshold, not yet confirmed."""
        ...

    @property
    def scored_s(self) -> float:
        """Seconds of audio decided so far (whole windows; a partial window is still to come)."""
        ...

    def expect_speech(self, seconds: float) -> None:
        """For the next `seconds` of audio, one window of speech starts speech (no `min_speech_ms`)."""
        ...


class VoiceActivityDetector(Protocol):
    """A VAD engine shared by every session: it opens one light stream per session."""

    def open_stream(self) -> VoiceActivityStream: ...

    def close(self) -> None:
        """Release the engine's workers (at process shutdown)."""
        ...
