"""PCM16 helpers: the rates devices may declare, validation, and streaming resampling."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
import soxr

SUPPORTED_RATES = frozenset({8_000, 16_000, 22_050, 24_000, 44_100, 48_000})

Int16Array = np.ndarray[Any, np.dtype[np.int16]]


class AudioFormatError(ValueError):
    """Audio a device sent that cannot be used; `reason` is a short machine-readable word."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_rate(sample_rate: int | None) -> int:
    if sample_rate is None:
        raise AudioFormatError("The sample rate of the audio is not declared", reason="undeclared_rate")
    if sample_rate not in SUPPORTED_RATES:
        rates = ", ".join(str(r) for r in sorted(SUPPORTED_RATES))
        raise AudioFormatError(
            f"Unsupported sample rate {sample_rate}; use one of {rates}", reason="unsupported_rate"
        )
    return sample_rate


def pcm16_from_bytes(data: bytes, *, max_bytes: int) -> Int16Array:
    """Little-endian PCM16 mono from raw bytes, checked for size and an even byte count."""
    if not data:
        raise AudioFormatError("The audio chunk is empty", reason="empty")
    if len(data) > max_bytes:
        raise AudioFormatError(f"The audio chunk is over {max_bytes} bytes", reason="too_large")
    if len(data) % 2:
        raise AudioFormatError("PCM16 audio must have an even number of bytes", reason="odd_length")
    return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)


def pcm16_from_base64(text: str, *, max_bytes: int) -> Int16Array:
    if len(text) > (max_bytes * 4) // 3 + 4:
        raise AudioFormatError(f"The audio chunk is over {max_bytes} bytes", reason="too_large")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AudioFormatError("audio_b64 is not valid base64", reason="invalid_base64") from None
    return pcm16_from_bytes(data, max_bytes=max_bytes)


class StreamResampler:
    """Resample a stream of int16 chunks to one rate, keeping filter state across chunks."""

    def __init__(self, target_rate: int) -> None:
        self._target = target_rate
        self._source: int | None = None
        self._stream: soxr.ResampleStream | None = None

    def process(self, pcm: Int16Array, sample_rate: int) -> Int16Array:
        if sample_rate == self._target:
            return pcm
        if sample_rate != self._source or self._stream is None:
            self._source = sample_rate
            self._stream = soxr.ResampleStream(sample_rate, self._target, 1, dtype="int16", quality="HQ")
        out: Int16Array = self._stream.resample_chunk(pcm)
        return out

    def flush(self) -> Int16Array:
        """What the filter still holds of the stream so far (soxr keeps up to ~40 ms back, more or less
        at each chunk), and a fresh start for whatever comes next."""
        stream, self._stream, self._source = self._stream, None, None
        if stream is None:
            return np.zeros(0, dtype=np.int16)
        out: Int16Array = stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        return out


def resample(pcm: Int16Array, from_rate: int, to_rate: int) -> Int16Array:
    """Resample a whole clip."""
    if from_rate == to_rate:
        return pcm
    out: Int16Array = soxr.resample(pcm, from_rate, to_rate, quality="HQ")
    return out


def wav_bytes(pcm: Int16Array | bytes, sample_rate: int) -> bytes:
    """A mono PCM16 WAV file."""
    import io
    import wave

    data = pcm if isinstance(pcm, bytes) else np.ascontiguousarray(pcm, dtype="<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(data)
    return buffer.getvalue()


def pcm16_from_wav(data: bytes) -> tuple[Int16Array, int]:
    """Mono PCM16 samples and the rate of a WAV file (stereo is mixed down)."""
    import io
    import wave

    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError):
        raise AudioFormatError("The audio is not a WAV file", reason="not_wav") from None
    if width != 2:
        raise AudioFormatError("The WAV file must be 16-bit PCM", reason="not_pcm16")
    check_rate(rate)
    pcm = np.frombuffer(frames[: len(frames) - len(frames) % (2 * channels)], dtype="<i2")
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1)
    return pcm.astype(np.int16), rate
