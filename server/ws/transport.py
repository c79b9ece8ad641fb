"""What carries one device connection: the WebSocket (server/ws/handler.py) or a WebRTC peer
(server/webrtc/peer.py). The device session (server/ws/device_session.py) runs on either alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pipeline.audio import Int16Array
from server.errors import ApiError
from server.ws.connection import Channel


@dataclass(frozen=True, slots=True)
class MicAudio:
    """Microphone audio decoded at the edge (a WebRTC track): PCM16 mono at `sample_rate`."""

    pcm: Int16Array
    sample_rate: int


Inbound = str | bytes | MicAudio
"""What a device sends: a text message, a binary frame (raw PCM16), or decoded microphone audio."""


class Transport(Protocol):
    @property
    def channel(self) -> Channel:
        """Where the device's messages are written (by its connection's writer task)."""
        ...

    @property
    def base_url(self) -> str:
        """The server's address as the device reaches it, for absolute audio URLs."""
        ...

    @property
    def sample_rate(self) -> int | None:
        """The rate the device declared for PCM that declares none (`?sample_rate=`), if any."""
        ...

    async def receive(self) -> Inbound | None:
        """The device's next message or audio; None once the device has gone."""
        ...

    async def refuse(self, error: ApiError) -> None:
        """Send `error` in the spec's body, then close with 4000 + its HTTP status."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close at once (nothing queued is sent)."""
        ...
