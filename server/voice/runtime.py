"""The process's voice engines: loaded once at start-up, every persona voice warmed, shared by all devices."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from personas import PersonaLibrary
from personas.voices import voice_spec_for
from pipeline.engines.asr import WhisperRecognizer
from pipeline.engines.turn import SharedSmartTurn
from pipeline.engines.vad import SharedSileroVAD
from pipeline.engines.whisper_models import whisper_model_dir
from pipeline.graph.persona import PersonaBinding
from pipeline.graph.session import Engines
from pipeline.llm import Responder
from pipeline.voices import VoiceBank
from server.settings import Settings

log = logging.getLogger(__name__)


class VoiceRuntime:
    def __init__(self, *, engines: Engines, bank: VoiceBank, bindings: dict[str, PersonaBinding]) -> None:
        self.engines = engines
        self.bank = bank
        self.bindings = bindings

    @classmethod
    async def load(
        cls, settings: Settings, personas: PersonaLibrary, responders: Mapping[str, Responder]
    ) -> VoiceRuntime:
        started = time.perf_counter()
        model_dir = settings.whisper_model_dir or await asyncio.to_thread(
            whisper_model_dir, settings.whisper_model, cache_dir=settings.state_dir / "models"
        )
        asr = await WhisperRecognizer.load(
            model_dir=str(model_dir),
            workers=settings.asr_workers,
            cpu_threads=settings.asr_cpu_threads,
            max_batch=settings.asr_max_batch,
        )
        vad, turn = await asyncio.gather(
            asyncio.to_thread(SharedSileroVAD), asyncio.to_thread(SharedSmartTurn)
        )
        bank = VoiceBank()
        specs = {p.id: voice_spec_for(p) for p in personas}
        await bank.warm(list(specs.values()))
        await asyncio.gather(asr.warm(), turn.warm_up())
        bindings = {
            p.id: PersonaBinding(
                persona_id=p.id,
                responder=responders[p.id],
                voice=bank.get(specs[p.id]),
                adaptation_mode=p.adaptation_mode,
            )
            for p in personas
        }
        log.info("voice runtime ready in %.1f s: %d voices", time.perf_counter() - started, len(bindings))
        return cls(engines=Engines(vad=vad, turn=turn, asr=asr), bank=bank, bindings=bindings)

    async def close(self) -> None:
        await self.bank.close()
        self.engines.vad.close()
        self.engines.asr.close()
        self.engines.turn.close()
