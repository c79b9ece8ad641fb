"""Speech segments (Silero VAD) and the words around each pause (faster-whisper), for the human clips."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel

from pipeline.audio import pcm16_from_wav, resample
from pipeline.engines.asr import default_whisper_model_dir
from pipeline.engines.vad import SharedSileroVAD, VADParams

RATE = 16_000
VAD_PARAMS = VADParams(stop_silence_ms=96.0)


@dataclass(frozen=True)
class Segments:
    sample_rate: int
    duration_s: float
    speech_start_s: float
    turn_end_s: float
    pauses: list[tuple[float, float, str, str]]
    """(start, end, word before, word after) of every silence between two speech segments."""


class Labeller:
    def __init__(self) -> None:
        self._vad = SharedSileroVAD()
        self._whisper = WhisperModel(default_whisper_model_dir(), device="cpu", compute_type="int8")

    def segments(self, path: Path) -> Segments:
        pcm, rate = pcm16_from_wav(path.read_bytes())
        pcm16k = resample(pcm, rate, RATE)
        spans = self._speech(pcm16k)
        words = self._words(pcm16k)
        pauses = []
        for (_, end), (start, _) in itertools.pairwise(spans):
            middle = (end + start) / 2
            before = [w for w, s, e in words if (s + e) / 2 < middle]
            after = [w for w, s, e in words if (s + e) / 2 >= middle]
            pauses.append((end, start, before[-1] if before else "", after[0] if after else ""))
        return Segments(
            sample_rate=rate,
            duration_s=len(pcm) / rate,
            speech_start_s=spans[0][0],
            turn_end_s=spans[-1][1],
            pauses=pauses,
        )

    def _speech(self, pcm16k: np.ndarray) -> list[tuple[float, float]]:
        """(start, end) of each speech segment; a trailing second of silence closes the last one."""
        stream = self._vad.open_stream(params=VAD_PARAMS)
        padded = np.concatenate([pcm16k, np.zeros(RATE, np.int16)])
        spans: list[tuple[float, float]] = []
        start = None
        for event in stream.feed(padded):
            if event.kind in ("speech_started", "speech_resumed"):
                start = event.edge_s
            elif event.kind == "pause_started" and start is not None:
                spans.append((start, event.edge_s))
                start = None
        if not spans:
            raise ValueError("no speech found")
        return spans

    def _words(self, pcm16k: np.ndarray) -> list[tuple[str, float, float]]:
        audio = pcm16k.astype(np.float32) / 32768.0
        segments, _ = self._whisper.transcribe(audio, beam_size=5, language="en", word_timestamps=True)
        return [(w.word.strip(), w.start, w.end) for s in segments for w in (s.words or [])]
