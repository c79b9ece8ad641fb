"""End to end with the real models: a voice-enabled server on a real socket, and devices that talk.

A `VoiceDevice` is a real WebSocket client that keeps every message it gets,
with its arrival time, and lets a test wait for the one it needs. Its
`Microphone` streams PCM16 in 20 ms frames paced by the wall clock, and digital
silence whenever nothing is being said, as a device's microphone does.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import register
from tests.support.live_server import LiveServer, live_server, make_settings

FRAME_S = 0.02
"""A device sends its microphone audio in 20 ms frames."""
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Reply chunks carry a whole clause of base64 audio: allow more than websockets' 1 MiB default."""
WAIT_S = 15.0
REPLY_WAIT_S = 45.0
"""From the start of an utterance to its reply's last chunk: speech, turn end, and the reply in real time."""

Int16 = npt.NDArray[np.int16]


@pytest.fixture(scope="session")
def voice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One voice-enabled server for the run (its models take seconds to load); tests use their own devices."""
    with live_server(make_settings(tmp_path_factory.mktemp("voice"), voice_enabled=True)) as live:
        yield live


def voice_server_with(state_dir: Path, **overrides: Any) -> contextlib.AbstractContextManager[LiveServer]:
    """A voice-enabled server of its own, for settings the shared one does not have."""
    return live_server(make_settings(state_dir, voice_enabled=True, **overrides))


KEEPALIVE_S = 1.0
"""How long the client keeps an idle connection: well under the server's (uvicorn's 5 s), so it never
sends a request on a connection the server is closing (a race that answers RemoteProtocolError)."""


def operator_http(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.api_url,
        headers=server.operator_headers,
        timeout=30,
        limits=httpx.Limits(keepalive_expiry=KEEPALIVE_S),
    )


@dataclass(frozen=True)
class Received:
    type: str
    payload: dict[str, Any]
    at: float
    """`time.perf_counter()` when the message arrived."""
    index: int


Match = Callable[[Received], bool]


def of_type(type_: str, **payload: Any) -> Match:
    """Matches messages of `type_` whose payload has these values."""
    return lambda m: m.type == type_ and all(m.payload.get(k) == v for k, v in payload.items())


class VoiceDevice:
    """One device socket; a reader task keeps every message, in order, with its arrival time."""

    def __init__(self, connection: ClientConnection, device_id: str) -> None:
        self.connection = connection
        self.device_id = device_id
        self.messages: list[Received] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(), name=f"device-reader-{device_id}")

    @classmethod
    async def connect(
        cls, server: LiveServer, device_id: str, token: str, *, sample_rate: int | None = None
    ) -> VoiceDevice:
        """Connect (with `?sample_rate=` if given) and wait for the server's `connected` message."""
        query = f"?token={token}" + (f"&sample_rate={sample_rate}" if sample_rate is not None else "")
        connection = await websockets.connect(
            f"{server.ws_url}/ws/{device_id}{query}", open_timeout=10, max_size=MAX_MESSAGE_BYTES
        )
        device = cls(connection, device_id)
        await device.wait_for(of_type("connected"))
        return device

    @classmethod
    async def register(cls, server: LiveServer, **connect: Any) -> VoiceDevice:
        """A newly registered device, connected."""
        async with operator_http(server) as http:
            device_id, token = await register(http)
        return await cls.connect(server, device_id, token, **connect)

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.connection:
                message = json.loads(raw)
                async with self._arrived:
                    self.messages.append(
                        Received(message["type"], message["payload"], time.perf_counter(), len(self.messages))
                    )
                    self._arrived.notify_all()
        async with self._arrived:
            self._arrived.notify_all()

    def mark(self) -> int:
        """The index the next message will have: `since=` for waits that must ignore earlier ones."""
        return len(self.messages)

    def received(self, match: Match, *, since: int = 0, until: int | None = None) -> list[Received]:
        return [m for m in self.messages[since:until] if match(m)]

    async def wait_for(self, match: Match, *, since: int = 0, timeout: float = WAIT_S) -> Received:  # noqa: ASYNC109  # a per-wait deadline reads better in tests
        """The first message from index `since` on that matches, waiting until it arrives."""

        def found() -> Received | None:
            return next((m for m in self.messages[since:] if match(m)), None)

        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: found() is not None or self._reader.done())
        except TimeoutError:
            pass
        message = found()
        if message is None:
            recent = [(m.type, _brief(m.payload)) for m in self.messages[since:][-12:]]
            state = "closed" if self._reader.done() else f"nothing within {timeout}s"
            raise AssertionError(f"no matching message ({state}); received since #{since}: {recent}")
        return message

    async def send(self, type_: str, payload: Any) -> None:
        await self.connection.send(json.dumps({"type": type_, "payload": payload}))

    async def send_raw(self, data: str | bytes) -> None:
        await self.connection.send(data)

    async def heartbeat_acked(self) -> Received:
        """Send a heartbeat and wait for its `heartbeat_ack`: the connection is up and reading."""
        since = self.mark()
        await self.send("heartbeat", {})
        return await self.wait_for(of_type("heartbeat_ack"), since=since)

    async def close(self) -> None:
        await self.connection.close()
        await self._reader


def _brief(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: (f"<{len(v)} chars>" if k == "audio_b64" else v) for k, v in payload.items()}


@dataclass(frozen=True)
class Utterance:
    started: float
    """perf_counter when its first frame was sent."""
    ended: float
    """perf_counter when its last frame was sent."""


class Microphone:
    """Streams a device's microphone in real time: 20 ms frames on a wall-clock schedule, silence between.

    Frames go as `audio_stream` messages declaring `sample_rate` (unless
    `declare_rate=False`), or as binary frames with `binary=True` (the rate is
    then declared in the socket's query). The schedule is absolute, so the
    stream never drifts from real time.
    """

    def __init__(
        self,
        device: VoiceDevice,
        *,
        sample_rate: int = 16_000,
        binary: bool = False,
        declare_rate: bool = True,
    ) -> None:
        self._device = device
        self._rate = sample_rate
        self._binary = binary
        self._declare_rate = declare_rate
        self._frame = round(sample_rate * FRAME_S)
        self._pending: collections.deque[tuple[Int16, asyncio.Future[Utterance]]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0

    async def __aenter__(self) -> Microphone:
        self._task = asyncio.create_task(self._run(), name=f"microphone-{self._device.device_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await self._task

    async def say(self, pcm: Int16) -> Utterance:
        """Stream `pcm` (int16 mono at the microphone's rate) next; returns once its last frame is sent."""
        assert self._task is not None, "use the microphone as `async with`"
        assert not self._task.done(), "the microphone stopped"
        future: asyncio.Future[Utterance] = asyncio.get_running_loop().create_future()
        self._pending.append((pcm, future))
        return await future

    async def _run(self) -> None:
        try:
            await self._stream()
        except BaseException as exc:
            for _, future in self._pending:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("stopped"))
            raise

    async def _stream(self) -> None:
        silence = np.zeros(self._frame, dtype=np.int16)
        start = time.perf_counter()
        speech: Int16 | None = None
        done: asyncio.Future[Utterance] | None = None
        offset = 0
        began = 0.0
        while True:
            if speech is None and self._pending:
                speech, done = self._pending.popleft()
                offset = 0
            if speech is not None:
                frame = speech[offset : offset + self._frame]
                if len(frame) < self._frame:
                    frame = np.concatenate([frame, silence[len(frame) :]])
                if offset == 0:
                    began = time.perf_counter()
                offset += self._frame
            else:
                frame = silence
            await self._send(frame)
            self.frames_sent += 1
            if speech is not None and offset >= len(speech):
                assert done is not None
                done.set_result(Utterance(started=began, ended=time.perf_counter()))
                speech, done = None, None
            await asyncio.sleep(max(0.0, start + self.frames_sent * FRAME_S - time.perf_counter()))

    async def _send(self, frame: Int16) -> None:
        data = frame.astype("<i2").tobytes()
        if self._binary:
            await self._device.send_raw(data)
        else:
            payload: dict[str, Any] = {"audio_b64": base64.b64encode(data).decode()}
            if self._declare_rate:
                payload["sample_rate"] = self._rate
            await self._device.send("audio_stream", payload)


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
