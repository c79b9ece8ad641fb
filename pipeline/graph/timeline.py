"""Per-turn latency, observed at each stage (perf_counter seconds), never estimated."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Literal

EndRule = Literal["smart_turn", "question", "request", "statement", "silence", "push_to_talk"]


@dataclass
class TurnTimeline:
    """Marks of one turn. `speech_end` is when the user's speech ended (from the VAD)."""

    turn_id: int
    user_text: str = ""
    committed: bool = True
    """False while the turn is speculative: its reply is prepared but held until the turn is judged over."""
    transcript_sent: bool = False
    transcribed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the transcriber is done with the turn (`user_text` is final), whatever the outcome."""
    end_rule: EndRule | None = None
    """What ended the turn: Smart Turn alone, Smart Turn with the transcript, or the silence fallback."""
    continues: int | None = None
    """The turn this one takes over: the user went on talking just after it was judged over."""
    retracted: bool = False
    """Taken over by a continuation: its reply is cut and the conversation does not keep it."""
    answered: bool = False
    """Its reply has been played to the end, or cut."""
    speech_end: float | None = None
    turn_end: float | None = None
    """When the turn was judged over (VAD silence plus the end-of-turn model)."""
    transcript_final: float | None = None
    first_token: float | None = None
    first_audio: float | None = None
    """First TTS audio of the reply itself."""
    first_byte_sent: float | None = None
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        """Set `name` (a field or an extra mark) to now, once."""
        now = time.perf_counter()
        if hasattr(self, name) and name != "marks":
            if getattr(self, name) is None:
                setattr(self, name, now)
        else:
            self.marks.setdefault(name, now)

    def breakdown_ms(self) -> dict[str, float]:
        """Milliseconds from the end of speech to each stage that was reached."""
        start = self.speech_end if self.speech_end is not None else self.turn_end
        if start is None:
            return {}
        stages = {
            "turn_end": self.turn_end,
            "transcript_final": self.transcript_final,
            "first_token": self.first_token,
            "first_audio": self.first_audio,
            "first_byte_sent": self.first_byte_sent,
        }
        return {name: round((t - start) * 1000, 1) for name, t in stages.items() if t is not None}
