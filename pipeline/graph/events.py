"""What the graph tells its transport; the server turns these into device messages."""

from __future__ import annotations

from typing import Literal, Protocol

from pipeline.graph.timeline import TurnTimeline

LedState = Literal["idle", "listening", "thinking", "speaking"]


class SessionListener(Protocol):
    async def on_led(self, state: LedState) -> None:
        """The device's LED should show `state`."""
        ...

    async def on_transcript(self, text: str, timeline: TurnTimeline) -> None:
        """The user's turn, transcribed (final)."""
        ...

    async def on_reply_audio(
        self, audio: bytes, sample_rate: int, text: str, timeline: TurnTimeline | None
    ) -> None:
        """A chunk of reply speech (int16 mono), sent as soon as it exists, paced at real time."""
        ...

    async def on_reply_done(
        self, text: str, audio: bytes, sample_rate: int, timeline: TurnTimeline | None
    ) -> None:
        """The whole reply was sent: its full text and audio."""
        ...

    async def on_stop_playback(self) -> None:
        """The user spoke over the bot: drop whatever reply audio is buffered."""
        ...

    async def on_turn_done(
        self, user_text: str, spoken_text: str, interrupted: bool, timeline: TurnTimeline | None
    ) -> None:
        """A turn ended; `spoken_text` is what the device actually played of the reply."""
        ...
