"""Speech made on the spot with espeak-ng (a Debian package), as 16 kHz float32 for the audio engines."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from functools import cache

import numpy as np
import numpy.typing as npt
import soxr

SAMPLE_RATE = 16_000


@cache
def _espeak(text: str, voice: str, words_per_minute: int) -> npt.NDArray[np.float32]:
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise RuntimeError("espeak-ng is not installed; run scripts/install-system-packages.sh")
    wav_bytes = subprocess.run(
        [binary, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        rate = wav.getframerate()
        # The header's frame count is a placeholder when espeak writes to a pipe: read to the end.
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    audio: npt.NDArray[np.float32] = np.asarray(
        soxr.resample(pcm.astype(np.float32) / 32768.0, rate, SAMPLE_RATE), dtype=np.float32
    )
    loud = np.flatnonzero(np.abs(audio) > 0.003)
    audio = audio[loud[0] : loud[-1] + 1]
    audio.setflags(write=False)
    return audio


def speak(text: str, *, voice: str = "en-us", words_per_minute: int = 160) -> npt.NDArray[np.float32]:
    """`text` spoken by espeak-ng, trimmed to the speech itself (no silence before or after)."""
    return _espeak(text, voice, words_per_minute)


def silence(seconds: float) -> npt.NDArray[np.float32]:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def noise(seconds: float, dbfs: float, *, seed: int = 0) -> npt.NDArray[np.float32]:
    """White noise with an RMS of `dbfs`."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(round(seconds * SAMPLE_RATE), dtype=np.float32) * np.float32(
        10.0 ** (dbfs / 20.0)
    )
