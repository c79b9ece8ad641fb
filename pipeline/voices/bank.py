"""Every voice the process speaks with: one per distinct spec, models shared underneath.

Switching persona is then a reference change: `get` returns the same object
for equal specs, and `warm` has already loaded each model and run it once, so
the first sentence after a switch costs no more than any other.
"""

from __future__ import annotations

import asyncio

from pipeline.voices.base import CoquiSpec, EspeakSpec, PiperSpec, Voice, VoiceSpec
from pipeline.voices.coqui import CoquiEngineVoice
from pipeline.voices.espeak import EspeakEngineVoice
from pipeline.voices.piper import PiperEngineVoice, PiperModel, model_key
from pipeline.voices.pool import InferencePool

WARM_TEXT = "Hello there."


class VoiceBank:
    def __init__(self, *, pool: InferencePool | None = None) -> None:
        """Without a `pool`, the bank makes (and closes) its own."""
        self._owns_pool = pool is None
        self.pool = pool or InferencePool()
        self._voices: dict[VoiceSpec, Voice] = {}
        self._piper_models: dict[str, PiperModel] = {}
        self._closed = False

    def get(self, spec: VoiceSpec) -> Voice:
        """The voice for `spec`, built on first use; raises `VoiceUnavailable` if it cannot exist here.

        Cheap and non-blocking: a Piper model's ONNX session is created in the
        pool, by `warm` or by the first synthesis.
        """
        if self._closed:
            raise RuntimeError("the voice bank is closed")
        voice = self._voices.get(spec)
        if voice is None:
            voice = self._voices[spec] = self._build(spec)
        return voice

    async def warm(self, specs: list[VoiceSpec]) -> None:
        """Build every voice, load its model and synthesise a short line with it, concurrently."""
        voices = [self.get(spec) for spec in dict.fromkeys(specs)]
        async with asyncio.TaskGroup() as group:
            for voice in voices:
                group.create_task(_speak_once(voice))

    @property
    def voices(self) -> list[Voice]:
        return list(self._voices.values())

    async def close(self) -> None:
        self._closed = True
        self._voices.clear()
        self._piper_models.clear()
        if self._owns_pool:
            self.pool.close()

    def _build(self, spec: VoiceSpec) -> Voice:
        match spec:
            case PiperSpec():
                return PiperEngineVoice(spec=spec, model=self._piper_model(spec.model_path), pool=self.pool)
            case EspeakSpec():
                return EspeakEngineVoice(spec=spec)
            case CoquiSpec():
                return CoquiEngineVoice(spec=spec, pool=self.pool)

    def _piper_model(self, model_path: str) -> PiperModel:
        key = model_key(model_path)
        model = self._piper_models.get(key)
        if model is None:
            model = self._piper_models[key] = PiperModel(model_path)
        return model


async def _speak_once(voice: Voice) -> None:
    async for _ in voice.synthesize(WARM_TEXT):
        pass
