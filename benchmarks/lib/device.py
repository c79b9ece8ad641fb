"""The simulated device, shared by the benchmarks and the end-to-end tests (`tests/voice`): registered
over REST, one WebSocket, every message time-stamped. Its microphone is `benchmarks.lib.microphone`.

A benchmark measures what a device observes, and a test waits for what a device
would see, so each message is kept with its arrival time (`time.perf_counter()`)
by one reader task, and a waiter wakes when the message it needs arrives;
nothing polls or sleeps.

Sockets are opened without permessage-deflate (embedded devices seldom
negotiate it, and compressing every 20 ms frame would cost both sides CPU that
a device would not spend) and with a 4 MiB message limit, since a reply chunk
carries a whole clause of base64 audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from server.paths import API_PREFIX

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CONNECT_TIMEOUT_S = 30.0
WAIT_S = 15.0
"""How long a wait lasts when it does not say (the tests' waits; each benchmark wait names its own)."""


class DeviceError(Exception):
    """A device could not be registered or connected, or an expected message never came."""


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


def ws_base(base_url: str) -> str:
    """`http://host:port` → `ws://host:port` (and https → wss)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://")
    return "ws://" + base_url.removeprefix("http://")


async def register_device(http: httpx.AsyncClient, name: str = "benchmark") -> tuple[str, str]:
    """Register a device with the operator client `http`; its id and its own token."""
    response = await http.post("/devices", json={"name": name, "device_type": "custom"})
    if response.status_code != 201:
        raise DeviceError(f"POST /devices answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    return str(body["device_id"]), str(body["auth_token"])


def operator_client(base_url: str, token: str) -> httpx.AsyncClient:
    """An operator's client of the REST API of the server at `base_url` (paths like `/devices`)."""
    return httpx.AsyncClient(
        base_url=base_url + API_PREFIX,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
        # Idle connections dropped well before the server's keep-alive (5 s) closes them, so a request
        # is never sent on a connection being closed (RemoteProtocolError).
        limits=httpx.Limits(keepalive_expiry=1.0),
    )


class DeviceClock:
    """A device's own clock: this machine's (the server's, on loopback: the true clock) off by
    `offset_s`, each reading off by up to ±`jitter_s` more (a device's coarse or noisy timer)."""

    def __init__(self, *, offset_s: float = 0.0, jitter_s: float = 0.0, seed: int | None = None) -> None:
        self.offset_s = offset_s
        self.jitter_s = jitter_s
        self._random = random.Random(seed)
        self._epoch_minus_perf = time.time() - time.perf_counter()

    def true_ms(self, perf: float | None = None) -> float:
        """The true time (ms since the epoch) at `time.perf_counter()` value `perf` (now by default)."""
        return (self._epoch_minus_perf + (time.perf_counter() if perf is None else perf)) * 1000

    def now_ms(self, perf: float | None = None) -> float:
        """What the device's clock reads at `perf` (now by default)."""
        noise = self._random.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        return self.true_ms(perf) + (self.offset_s + noise) * 1000


class DeviceSocket:
    """One device's socket; a reader task keeps every message, in order, with its arrival time.

    A socket speaking another protocol (the pipecat reference bot's) overrides `decode`.
    """

    def __init__(
        self,
        connection: ClientConnection,
        device_id: str,
        *,
        on_message: Callable[[Received], None] | None = None,
    ) -> None:
        """With `on_message`, messages after `connected` go to it and are not kept (a capacity run
        holds hundreds of sockets and needs only its heartbeat round trips)."""
        self.connection = connection
        self.device_id = device_id
        self.messages: list[Received] = []
        self.closed_with: str | None = None
        """Why the socket closed, once it has: the close code and reason, or the error."""
        self._on_message = on_message
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read(), name=f"bench-device-{device_id}")

    @classmethod
    async def connect(
        cls, base_url: str, device_id: str, token: str, *, sample_rate: int | None = 16_000, **kwargs: Any
    ) -> DeviceSocket:
        """Connect (declaring the rate of binary frames) and wait for the server's `connected`."""
        query = f"?token={token}" + (f"&sample_rate={sample_rate}" if sample_rate else "")
        connection = await websockets.connect(
            f"{ws_base(base_url)}/ws/{device_id}{query}",
            open_timeout=CONNECT_TIMEOUT_S,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            proxy=None,
            ping_interval=None,
        )
        device = cls(connection, device_id, **kwargs)
        await device.wait_for(of_type("connected"), timeout=CONNECT_TIMEOUT_S)
        return device

    async def _read(self) -> None:
        try:
            async for raw in self.connection:
                at = time.perf_counter()
                decoded = self.decode(raw)
                if decoded is None:
                    continue
                received = Received(decoded[0], decoded[1], at, len(self.messages))
                if self._on_message is not None and received.type != "connected":
                    self._on_message(received)
                    continue
                async with self._arrived:
                    self.messages.append(received)
                    self._arrived.notify_all()
            connection = self.connection
            self.closed_with = f"closed: {connection.close_code} {connection.close_reason}".strip()
        except ConnectionClosed as exc:
            self.closed_with = f"connection lost: {exc}"
        async with self._arrived:
            self._arrived.notify_all()

    def decode(self, raw: str | bytes) -> tuple[str, dict[str, Any]] | None:
        """A message's type and payload (this server's JSON messages); None to drop it."""
        message = json.loads(raw)
        return message["type"], message["payload"]

    @property
    def is_closed(self) -> bool:
        return self._reader.done()

    def mark(self) -> int:
        """The index the next message will have: `since=` for waits that must ignore earlier ones."""
        return len(self.messages)

    def received(self, match: Match, *, since: int = 0, until: int | None = None) -> list[Received]:
        """The messages from index `since` (up to `until`, excluded) that match."""
        return [m for m in self.messages[since:until] if match(m)]

    async def wait_for(
        self,
        match: Match,
        *,
        since: int = 0,
        timeout: float = WAIT_S,  # noqa: ASYNC109  # each wait has its own deadline, named in the error
    ) -> Received:
        """The first message from index `since` on that matches; `DeviceError` after `timeout` seconds."""

        def found() -> Received | None:
            return next((m for m in self.messages[since:] if match(m)), None)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: found() is not None or self._reader.done())
        message = found()
        if message is None:
            state = self.closed_with if self._reader.done() else f"nothing within {timeout:g} s"
            recent = [(m.type, _brief(m.payload)) for m in self.messages[since:][-12:]]
            raise DeviceError(
                f"device {self.device_id}: no matching message ({state}); received since #{since}: {recent}"
            )
        return message

    async def send(self, type_: str, payload: Any) -> None:
        await self.connection.send(json.dumps({"type": type_, "payload": payload}))

    async def send_audio(self, pcm16: bytes) -> None:
        """One binary frame of PCM16 at the rate declared when connecting."""
        await self.connection.send(pcm16)

    async def send_raw(self, data: str | bytes) -> None:
        """Anything at all, as one WebSocket message (for tests of what the server refuses)."""
        await self.connection.send(data)

    async def heartbeat_acked(self, timeout: float = WAIT_S) -> Received:  # noqa: ASYNC109  # as wait_for
        """Send a heartbeat and wait for its `heartbeat_ack`: the connection is up and reading."""
        since = self.mark()
        await self.send("heartbeat", {})
        return await self.wait_for(of_type("heartbeat_ack"), since=since, timeout=timeout)

    async def sync_clock(self, clock: DeviceClock, *, rounds: int = 8, timeout: float = WAIT_S) -> None:  # noqa: ASYNC109  # as wait_for
        """Timestamped heartbeats, one after the other, so the server can estimate `clock` (README,
        "Synchronised playback"): each carries `t0` and the previous ack's arrival `t3`; a last one
        brings the last `t3`."""
        t3: float | None = None
        for _ in range(rounds):
            since = self.mark()
            await self.send("heartbeat", {"t0": clock.now_ms(), **({} if t3 is None else {"t3": t3})})
            ack = await self.wait_for(of_type("heartbeat_ack"), since=since, timeout=timeout)
            t3 = clock.now_ms(ack.at)
        await self.heartbeat_acked_with({"t3": t3}, timeout=timeout)

    async def heartbeat_acked_with(self, payload: dict[str, Any], timeout: float = WAIT_S) -> Received:  # noqa: ASYNC109  # as wait_for
        since = self.mark()
        await self.send("heartbeat", payload)
        return await self.wait_for(of_type("heartbeat_ack"), since=since, timeout=timeout)

    async def start_at(self, clock: DeviceClock, cue: dict[str, Any]) -> float:
        """Wait for a playback cue's instant on `clock` (its `device_at_ms`; the server's `at_ms` if
        the clock was never measured), start, and report when (true time, ms since the epoch)."""
        target = cue["device_at_ms"] if cue.get("device_at_ms") is not None else cue["at_ms"]
        await asyncio.sleep(max(0.0, target - clock.now_ms()) / 1000)
        return clock.true_ms()

    async def close(self) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            await self.connection.close()
        await self._reader


def _brief(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload for an error message: audio as its length only."""
    return {k: (f"<{len(v)} chars>" if k == "audio_b64" else v) for k, v in payload.items()}
