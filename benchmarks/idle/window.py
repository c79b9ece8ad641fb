"""What a fleet of devices saw during one measured window: heartbeat round trips, its own lateness,
and in speech mode the replies. The fleet (`benchmarks.idle.fleet`) and each device's speech loop
(`benchmarks.idle.speech_loop`) count into it; the report (`benchmarks.idle.report`) reads it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Window:
    """What the fleet saw during one measured window."""

    rtts_ms: list[float] = field(default_factory=list)
    heartbeats_sent: int = 0
    ticks: int = 0
    late_ticks: int = 0
    """Ticks that started more than 20 ms after their time: the client fell behind."""
    max_lateness_ms: float = 0.0
    max_tick_ms: float = 0.0
    """The longest time one tick took to hand every device its frame."""
    in_flight: int = 0
    utterances: int = 0
    """Speech mode: utterances whose speech ended in the window."""
    reply_ms: list[float] = field(default_factory=list)
    """Speech mode: end of speech → first reply audio, for those utterances."""
    missed_replies: int = 0
    """Speech mode: utterances that got no reply audio within the reply timeout."""
    replies_in_flight: int = 0
    closing: bool = False
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the window is closing and its last heartbeat (and reply) has been answered."""

    def answered(self, rtt_ms: float) -> None:
        self.rtts_ms.append(rtt_ms)
        self.in_flight -= 1
        self._check_drained()

    def replied(self, reply_ms: float) -> None:
        self.reply_ms.append(reply_ms)
        self.replies_in_flight -= 1
        self._check_drained()

    def missed(self) -> None:
        self.missed_replies += 1
        self.replies_in_flight -= 1
        self._check_drained()

    def _check_drained(self) -> None:
        if self.closing and self.in_flight <= 0 and self.replies_in_flight <= 0:
            self.drained.set()
