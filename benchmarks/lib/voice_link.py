"""The driver interface of the voice harness, and the driver for this server's device protocol.

The harness speaks and times the same way whatever it talks to (`Microphone`
pacing, the end of speech found from the audio, the arrival of the first reply
audio); a `VoiceLink` is the protocol part: how audio goes out, which incoming
message is reply audio, when a reply has ended, and what the bot said it heard.
`CompanionLink` drives this server (`DeviceSocket`: binary PCM frames, JSON
`audio_response`/`transcript`/`led_control` back);
`benchmarks.reference.link.PipecatLink` drives the stock pipecat reference bot.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Protocol

import msgspec

from benchmarks.lib.device import DeviceError, DeviceSocket, Received, of_type

SETTLE_MARGIN_S = 5.0
FINAL_TIMEOUT_S = 90.0
"""From the first reply audio to the end of the reply: replies are paced at (or near) real time."""
DEFAULT_RATE = 16_000


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """What a device got of one reply, once it has ended."""

    audio_s: float
    """Seconds of reply audio received."""
    transcripts: list[str] | None
    """What the bot said it heard, one entry per transcript message; None when its protocol does not say."""
    reply_text: str
    server_ms: dict[str, float]
    """The bot's own per-stage breakdown, when its protocol carries one (empty otherwise)."""


class VoiceLink(Protocol):
    """One connected device (or client) of a voice bot, as the harness drives it."""

    @property
    def device_id(self) -> str: ...

    async def send_audio(self, pcm16: bytes) -> None:
        """One 20 ms frame of 16 kHz PCM16 microphone audio."""
        ...

    def mark(self) -> int:
        """A position in the messages received: `since=` for the calls below."""
        ...

    async def first_audio(self, *, since: int, timeout: float) -> Received:  # noqa: ASYNC109  # a per-turn deadline
        """The first message from `since` on that carries reply audio; `DeviceError` after `timeout` s."""
        ...

    async def reply(self, *, since: int, first: Received) -> Reply:
        """Wait for the reply that began with `first` to end, and for the bot to listen again.

        Raises `DeviceError` if the reply never ends.
        """
        ...

    def seen(self, since: int) -> list[str]:
        """The types of the messages received from `since` on (for error messages)."""
        ...

    async def close(self) -> None: ...


class CompanionLink:
    """This server's device protocol over a `DeviceSocket`.

    Reply audio is an `audio_response` carrying `audio_b64`; the reply ends with
    the `audio_response` marked final (which names the text and the server's
    `latency_ms` breakdown); the bot listens again when `led_control` says
    `listening`. Transcripts are the `transcript` messages of the turn.
    """

    def __init__(self, socket: DeviceSocket) -> None:
        self.socket = socket

    @property
    def device_id(self) -> str:
        return self.socket.device_id

    async def send_audio(self, pcm16: bytes) -> None:
        await self.socket.send_audio(pcm16)

    def mark(self) -> int:
        return self.socket.mark()

    async def first_audio(self, *, since: int, timeout: float) -> Received:  # noqa: ASYNC109  # a per-turn deadline
        return await self.socket.wait_for(has_audio, since=since, timeout=timeout)

    async def reply(self, *, since: int, first: Received) -> Reply:
        socket = self.socket
        final_match = of_type("audio_response", final=True)
        final = await socket.wait_for(final_match, since=since, timeout=FINAL_TIMEOUT_S)
        in_reply = [m for m in socket.messages[since:] if m.index <= final.index]
        chunks = [m for m in in_reply if m.type == "audio_response" and not m.payload.get("final")]
        audio_s = sum(_audio_seconds(m) for m in chunks)
        await self._settle(final, audio_s)
        transcripts = [m for m in in_reply if m.type == "transcript"]
        return Reply(
            audio_s=audio_s,
            transcripts=[str(m.payload.get("text", "")) for m in transcripts],
            reply_text=str(final.payload.get("text", "")),
            server_ms={k: float(v) for k, v in (final.payload.get("latency_ms") or {}).items()},
        )

    async def _settle(self, final: Received, audio_s: float) -> None:
        """Wait until the bot listens again (its reply has played), so the next turn is not a barge-in."""
        # If it never does, the next turn may cut the end of this reply; this turn's own figures stand.
        listening = of_type("led_control", state="listening")
        with contextlib.suppress(DeviceError):
            await self.socket.wait_for(listening, since=final.index + 1, timeout=audio_s + SETTLE_MARGIN_S)

    def seen(self, since: int) -> list[str]:
        return [m.type for m in self.socket.messages[since:] if m.type != "heartbeat_ack"]

    async def close(self) -> None:
        await self.socket.close()


def has_audio(message: Received) -> bool:
    """An `audio_response` that carries audio (not the final one, which names the whole reply)."""
    return message.type == "audio_response" and bool(message.payload.get("audio_b64"))


def _audio_seconds(message: Received) -> float:
    payload = message.payload
    data = payload.get("audio_b64") or ""
    rate = int(payload.get("sample_rate") or DEFAULT_RATE)
    return len(base64.b64decode(data)) / 2 / rate if data else 0.0
