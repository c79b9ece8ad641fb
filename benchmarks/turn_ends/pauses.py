"""What the turn-end benchmark measures of an utterance: every VAD pause, with what the rule saw there."""

from __future__ import annotations

import msgspec


class Pause(msgspec.Struct, frozen=True, kw_only=True):
    at_s: float
    final: bool
    gap_s: float | None
    """Silence until the speech resumed; None at the final pause."""
    smart_turn: float
    transcript: str
    rule_alone: str
    rule_with_transcript: str


class Utterance(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    source: str
    """fixture, held-out (piper / espeak-ng), human-dev, human-held-out or human-natural."""
    text: str
    pauses: list[Pause]
    turn_end_s: float | None = None
    """The labelled end of the turn (human clips); the pauses' `final` follows it."""
