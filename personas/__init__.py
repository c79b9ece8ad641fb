"""Personas: one data file each, loaded and validated at start-up, and turned into a prompt and an engine.

May import `pipeline/`, never `server/`.
"""

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
    "load_library",
]
