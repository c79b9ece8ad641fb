"""Per-turn latencies of this instance, kept for the metrics endpoint (recent turns only)."""

from __future__ import annotations

from collections import deque

import msgspec

STAGES = ("turn_end", "transcript_final", "first_token", "first_audio", "first_byte_sent")


class StageSummary(msgspec.Struct, kw_only=True):
    count: int
    p50_ms: float
    p90_ms: float
    p99_ms: float


class LatencySummary(msgspec.Struct, kw_only=True):
    turns: int
    """Voice turns recorded (the most recent ones are kept)."""
    stages_from_speech_end: dict[str, StageSummary]
    """Milliseconds from the end of the user's speech to each stage; first_byte_sent is voice-to-voice."""
    persona_swaps: StageSummary | None
    """Milliseconds for a persona swap in a live graph (request to new persona live)."""
    session_changes: dict[str, StageSummary] = {}
    """Milliseconds from a session change reaching the device's live session to its being applied
    there (waiting behind earlier changes included), by kind (persona_changed, session_started, ...)."""


class LatencyRecorder:
    def __init__(self, *, keep: int = 1000) -> None:
        self._turns: deque[dict[str, float]] = deque(maxlen=keep)
        self._swaps: deque[float] = deque(maxlen=keep)
        self._changes: dict[str, deque[float]] = {}
        self._keep = keep

    def record_turn(self, breakdown_ms: dict[str, float]) -> None:
        if breakdown_ms:
            self._turns.append(breakdown_ms)

    def record_swap(self, ms: float) -> None:
        self._swaps.append(ms)

    def record_change(self, kind: str, ms: float) -> None:
        self._changes.setdefault(kind, deque(maxlen=self._keep)).append(ms)

    def summary(self) -> LatencySummary:
        stages: dict[str, StageSummary] = {}
        for stage in STAGES:
            values = [t[stage] for t in self._turns if stage in t]
            if values:
                stages[stage] = _summary(values)
        return LatencySummary(
            turns=len(self._turns),
            stages_from_speech_end=stages,
            persona_swaps=_summary(list(self._swaps)) if self._swaps else None,
            session_changes={kind: _summary(list(values)) for kind, values in self._changes.items()},
        )


def _summary(values: list[float]) -> StageSummary:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 3)

    return StageSummary(count=len(ordered), p50_ms=pct(0.5), p90_ms=pct(0.9), p99_ms=pct(0.99))
