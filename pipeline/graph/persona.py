"""What a persona is to the graph: an LLM engine and a voice, swapped as one reference."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.graph.pauses import AdaptationMode
from pipeline.llm import Responder
from pipeline.voices import Voice


@dataclass(frozen=True, eq=False)
class PersonaBinding:
    persona_id: str
    responder: Responder
    voice: Voice
    adaptation_mode: AdaptationMode = "static"
    """How far the end of a turn adapts to the speaker's pauses (`pipeline.graph.pauses`)."""


class PersonaSlot:
    """The session's current persona, shared by the LLM and voice stages.

    Each stage reads `binding` when it starts on a frame, so a swap (one
    assignment) takes effect at the next frame boundary of every stage at once.
    """

    def __init__(self, binding: PersonaBinding) -> None:
        self.binding = binding
