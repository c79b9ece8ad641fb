"""Coqui TTS voices, only where an operator installed both the `TTS` package and a model.

No registry reachable from here carries Coqui or its models, so the project
ships neither: a persona may name a local model path, and building its voice
raises `VoiceUnavailable` unless the package imports and the model is on disk.
`model_path` is a single-speaker model's directory (holding `config.json` and
`model.pth`, `model_file.pth` or `best_model.pth`) or the model file itself
with `config.json` beside it. Nothing is ever downloaded.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.voices.base import CoquiSpec, Pcm, VoiceError, VoiceUnavailable
from pipeline.voices.piper import to_pcm
from pipeline.voices.pool import InferencePool, speech_clock

ENGINE = "coqui"
_MODEL_FILES = ("model.pth", "model_file.pth", "best_model.pth")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def coqui_installed() -> bool:
    return importlib.util.find_spec("TTS") is not None


class CoquiEngineVoice:
    def __init__(self, *, spec: CoquiSpec, pool: InferencePool) -> None:
        model, config = _locate(Path(spec.model_path))
        if not coqui_installed():
            raise VoiceUnavailable(
                "Coqui TTS is not installed on this server (the `TTS` package is on no registry "
                f"reachable here); install it by hand to use {spec.model_path}",
                engine=ENGINE,
            )
        self.spec = spec
        self.name = f"{ENGINE}:{Path(spec.model_path).name}"
        self.sample_rate = _sample_rate(config)
        self._model_file = model
        self._config_file = config
        self._pool = pool
        self._tts: Any = None
        self._lock = threading.Lock()

    async def synthesize(self, text: str) -> AsyncIterator[Pcm]:
        sentences = [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]
        clock = speech_clock()
        finished = False
        try:
            for sentence in sentences:
                audio = await self._pool.submit_by(clock.deadline(), self._render, sentence)
                clock.played(audio.size / self.sample_rate)
                if audio.size:
                    yield audio
            finished = True
        finally:
            if not finished:
                clock.cut()

    def _render(self, sentence: str) -> Pcm:
        try:
            samples = self._load().tts(text=sentence, split_sentences=False)
        except Exception as error:
            raise VoiceError(f"Coqui synthesis failed: {type(error).__name__}", engine=ENGINE) from None
        return to_pcm(np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0))

    def _load(self) -> Any:
        with self._lock:
            if self._tts is None:
                api = importlib.import_module("TTS.api")
                self._tts = api.TTS(
                    model_path=str(self._model_file), config_path=str(self._config_file), progress_bar=False
                )
            return self._tts


def _locate(path: Path) -> tuple[Path, Path]:
    """The model file and its config.json, or `VoiceUnavailable` naming what is missing."""
    if path.is_dir():
        model = next((path / name for name in _MODEL_FILES if (path / name).is_file()), None)
        config = path / "config.json"
    else:
        model = path if path.is_file() else None
        config = path.parent / "config.json"
    if model is None or not config.is_file():
        raise VoiceUnavailable(
            f"no Coqui model at {path}: an operator must install one there (a model file and "
            "config.json); the project ships none",
            engine=ENGINE,
        )
    return model, config


def _sample_rate(config_file: Path) -> int:
    try:
        audio = json.loads(config_file.read_text(encoding="utf-8"))["audio"]
        return int(audio.get("output_sample_rate") or audio["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError):
        raise VoiceUnavailable(f"{config_file} has no audio sample rate", engine=ENGINE) from None
