"""End to end with the real models: a voice-enabled server on a real socket, and devices that talk.

The devices are the benchmarks' simulated device (`benchmarks.lib.device`,
`benchmarks.lib.microphone`), opened on the test's server: a real WebSocket
client that keeps every message it gets, with its arrival time, and lets a test
wait for the one it needs; its `Microphone` streams PCM16 in 20 ms frames paced
by the wall clock, and digital silence whenever nothing is being said, as a
device's microphone does. Here the microphone sends `audio_stream` JSON
messages by default (`binary=True` for binary frames).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from benchmarks.lib import microphone
from benchmarks.lib.device import (
    MAX_MESSAGE_BYTES,
    WAIT_S,
    DeviceSocket,
    Match,
    Received,
    of_type,
    operator_client,
    register_device,
)
from benchmarks.lib.microphone import FRAME_S, Int16, Utterance
from tests.support.live_server import LiveServer, live_server, make_settings

__all__ = [
    "FRAME_S",
    "MAX_MESSAGE_BYTES",
    "REPLY_WAIT_S",
    "WAIT_S",
    "Int16",
    "Microphone",
    "Received",
    "Turn",
    "Utterance",
    "VoiceDevice",
    "converse",
    "of_type",
    "operator_http",
    "pcm_of",
    "rms",
    "voice_server_with",
]

REPLY_WAIT_S = 45.0
"""From the start of an utterance to its reply's last chunk: speech, turn end, and the reply in real time."""


@pytest.fixture(scope="session")
def voice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One voice-enabled server for the run (its models take seconds to load); tests use their own devices."""
    with live_server(make_settings(tmp_path_factory.mktemp("voice"), voice_enabled=True)) as live:
        yield live


def voice_server_with(state_dir: Path, **overrides: Any) -> contextlib.AbstractContextManager[LiveServer]:
    """A voice-enabled server of its own, for settings the shared one does not have."""
    return live_server(make_settings(state_dir, voice_enabled=True, **overrides))


def operator_http(server: LiveServer) -> httpx.AsyncClient:
    """An operator's REST client of `server` (idle connections dropped before the server drops them)."""
    return operator_client(server.base_url, server.token())


class VoiceDevice(DeviceSocket):
    """The simulated device, opened on a test's `LiveServer`."""

    @classmethod
    async def connect(  # type: ignore[override]  # opened on a test's server rather than on a URL
        cls, server: LiveServer, device_id: str, token: str, *, sample_rate: int | None = None
    ) -> VoiceDevice:
        """Connect (with `?sample_rate=` if given) and wait for the server's `connected` message."""
        device = await super().connect(server.base_url, device_id, token, sample_rate=sample_rate)
        assert isinstance(device, VoiceDevice)
        return device

    @classmethod
    async def register(cls, server: LiveServer, *, sample_rate: int | None = None) -> VoiceDevice:
        """A newly registered device, connected."""
        async with operator_http(server) as http:
            device_id, token = await register_device(http, "test-device")
        return await cls.connect(server, device_id, token, sample_rate=sample_rate)


class Microphone(microphone.Microphone):
    """The shared microphone, sending `audio_stream` messages that declare their rate unless told
    otherwise: `binary=True` for binary frames (at the rate of the socket's query), `declare_rate=False`
    for messages without `sample_rate`."""

    def __init__(
        self,
        device: VoiceDevice,
        *,
        sample_rate: int = 16_000,
        binary: bool = False,
        declare_rate: bool = True,
    ) -> None:
        framing: microphone.Framing = "binary" if binary else "json" if declare_rate else "json-no-rate"
        super().__init__(device, sample_rate=sample_rate, framing=framing)


# Reading replies


def pcm_of(message: Received) -> Int16:
    """The int16 samples of an `audio_response` chunk."""
    return np.frombuffer(base64.b64decode(message.payload["audio_b64"], validate=True), dtype="<i2")


def rms(pcm: Int16) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0


@dataclass
class Turn:
    """Everything a device received for one utterance: from its first frame until the bot listens again."""

    utterance: Utterance
    messages: list[Received] = field(default_factory=list)

    def of(self, match: Match) -> list[Received]:
        return [m for m in self.messages if match(m)]

    @property
    def transcripts(self) -> list[Received]:
        return self.of(of_type("transcript"))

    @property
    def finals(self) -> list[Received]:
        return self.of(of_type("audio_response", final=True))

    @property
    def chunks(self) -> list[Received]:
        return self.of(of_type("audio_response", final=False))

    @property
    def final(self) -> Received:
        assert len(self.finals) == 1, [m.payload["text"] for m in self.finals]
        return self.finals[0]

    def audio(self) -> Int16:
        chunks = [pcm_of(m) for m in self.chunks]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    @property
    def leds(self) -> list[str]:
        """The LED states in order, repeats collapsed."""
        states: list[str] = []
        for message in self.of(of_type("led_control")):
            if not states or states[-1] != message.payload["state"]:
                states.append(message.payload["state"])
        return states


async def converse(device: VoiceDevice, microphone: Microphone, pcm: Int16) -> Turn:
    """Say `pcm`, then wait for the reply's final `audio_response` and for the bot to listen again."""
    since = device.mark()
    utterance = await microphone.say(pcm)
    final = await device.wait_for(of_type("audio_response", final=True), since=since, timeout=REPLY_WAIT_S)
    listening = await device.wait_for(of_type("led_control", state="listening"), since=final.index + 1)
    return Turn(utterance=utterance, messages=device.messages[since : listening.index + 1])
