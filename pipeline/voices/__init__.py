"""Persona voices: one small `Voice` interface, an engine per TTS system, one shared bank."""

from pipeline.voices.bank import VoiceBank
from pipeline.voices.base import (
    CoquiSpec,
    EspeakSpec,
    Pcm,
    PiperSpec,
    Voice,
    VoiceError,
    VoiceSpec,
    VoiceUnavailable,
)
from pipeline.voices.coqui import CoquiEngineVoice
from pipeline.voices.espeak import EspeakEngineVoice
from pipeline.voices.piper import PiperEngineVoice, PiperModel, default_model_path
from pipeline.voices.pool import InferencePool

__all__ = [
    "CoquiEngineVoice",
    "CoquiSpec",
    "EspeakEngineVoice",
    "EspeakSpec",
    "InferencePool",
    "Pcm",
    "PiperEngineVoice",
    "PiperModel",
    "PiperSpec",
    "Voice",
    "VoiceBank",
    "VoiceError",
    "VoiceSpec",
    "VoiceUnavailable",
    "default_model_path",
]
