"""What a persona is to the graph: an LLM engine and a voice, swapped as one reference."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.llm import Responder
from pipeline.voices import Voice


@dataclass(frozen=True, eq=False)
class PersonaBinding:
    persona_id: str
    responder: Responder
    voice: Voice
