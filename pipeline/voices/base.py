"""The interface every TTS engine implements, the settings that pick a voice, and the errors.

A `Voice` is built for one voice configuration (a spec) and turns text into
16-bit mono PCM chunks, yielding each chunk as soon as it exists so playback
can start on the first sentence while the rest is still being synthesised.

Specs are frozen Structs, hashable, so `VoiceBank` keeps one voice per
distinct spec. They mirror the persona file's `voice_config`, except that a
Piper voice is named by its model file here (which model file a voice id
means is the caller's business, not the pipeline's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import msgspec
import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
"""Mono 16-bit samples at the voice's `sample_rate`."""


class PiperSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A Piper neural voice, shaped after synthesis (pitch, timbre, level)."""

    model_path: str
    """The `.onnx` model; its config is the same path plus `.json`."""
    speed: float = 1.0
    """Speaking rate, 1.0 = the voice's own; Piper's `length_scale` is `1 / speed`."""
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8
    pitch_semitones: float = 0.0
    formant_shift: float = 1.0
    """Spectral envelope factor: above 1.0 sounds smaller and brighter, below 1.0 larger."""
    volume: float = 1.0


class EspeakSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An eSpeak NG formant voice, run as the `espeak-ng` binary."""

    voice: str
    """A language and optional variant, e.g. "en-us+f3"."""
    words_per_minute: int = 175
    pitch: int = 50
    """0-99, espeak-ng's `-p`."""
    pitch_range: int = 50
    """0-99; 0 is a monotone, 50 espeak-ng's default."""
    volume: float = 1.0


class CoquiSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A Coqui TTS model an operator installed on the server."""

    model_path: str


VoiceSpec = PiperSpec | EspeakSpec | CoquiSpec


class VoiceError(Exception):
    """A voice could not synthesise. The message never contains the text being spoken."""

    def __init__(self, message: str, *, engine: str) -> None:
        super().__init__(message)
        self.engine = engine


class VoiceUnavailable(VoiceError):
    """The voice cannot be built on this server: its engine or its model is not installed."""


class Voice(Protocol):
    """One voice configuration of one engine, shared by every session that speaks with it."""

    @property
    def name(self) -> str:
        """A short label for logs and metrics, e.g. "piper:en_US-joe-medium"."""
        ...

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str) -> AsyncIterator[Pcm]:
        """Speak `text`, yielding non-empty chunks as they are ready (at least one per sentence).

        Inference never runs on the event loop. Closing the iterator early (the
        user barged in) drops the work that has not started yet.
        Raises `VoiceError`.
        """
        ...
