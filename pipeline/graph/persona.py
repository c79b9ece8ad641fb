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


class PersonaSlot:
    """The session's current persona, shared by the LLM and voice stages.

    Each stage reads `binding` when it starts on a frame, so a swap (one
    assignment) takes effect at the next frame boundary of every stage at once.
    """

    def __init__(self, binding: PersonaBinding) -> None:
        self.binding = binding
