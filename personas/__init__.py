"""Personas: one data file each, loaded and validated at start-up, and turned into a prompt and an engine.

May import `pipeline/`, never `server/`.
"""

from personas.factory import build_responder, build_script, system_prompt_for
from personas.loader import LIBRARY_DIR, PersonaFileError, PersonaLibrary, load_library
from personas.schema import (
    BehaviorConfig,
    CoquiVoice,
    EspeakVoice,
    LLMConfig,
    OfflineRule,
    OfflineScript,
    Persona,
    PiperVoice,
    StyleConfig,
    VoiceConfig,
)

__all__ = [
    "LIBRARY_DIR",
    "BehaviorConfig",
    "CoquiVoice",
    "EspeakVoice",
    "LLMConfig",
    "OfflineRule",
    "OfflineScript",
    "Persona",
    "PersonaFileError",
    "PersonaLibrary",
    "PiperVoice",
    "StyleConfig",
    "VoiceConfig",
    "build_responder",
    "build_script",
    "load_library",
    "system_prompt_for",
]
