"""Many devices from one client process: every socket streams 20 ms frames in real time.

One ticker task sends a frame to every device each 20 ms, on an absolute
schedule (frame `t` of every device is due at `start + t * 20 ms`), rather
than one sleeping task per device: 300 devices then cost 50 wake-ups a second,
not 15 000. Each device also sends a heartbeat every `heartbeat_every_s`
(staggered across devices) and times the `heartbeat_ack`; a socket answers in
order, so a server that falls behind on audio answers late. The ticker records
how late it ran, so a report can tell a slow server from a slow client. In
speech mode (`speech=`) each device says fixtures in a loop instead
(`benchmarks.idle.speech_loop`), and the window also counts its replies.

A protocol without heartbeats (the stock pipecat bot's) gets
`heartbeat_every_s=None`, and its sockets, opened elsewhere, join with `add`:
each `DeviceSocket` subclass wraps a frame in its own protocol.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time

import numpy as np
from websockets.exceptions import ConnectionClosed

from benchmarks.idle.speech_loop import SpeechLoop, SpokenClip, stagger
from benchmarks.idle.window import Window
from benchmarks.lib.device import DeviceSocket, Received
from benchmarks.lib.microphone import FRAME_S, LATE_S

SAMPLE_RATE = 16_000
FRAME_SAMPLES = round(SAMPLE_RATE * FRAME_S)
NOISE_FRAMES = 50
LEAD_IN_S = 0.5
"""Speech mode: silence a device streams before its (staggered) first utterance."""
HEARTBEAT = json.dumps({"type": "heartbeat", "payload": {}})


def frames(noise_dbfs: float | None, *, seed: int = 7) -> list[bytes]:
    """Digital silence (one frame), or a second of white noise at `noise_dbfs` RMS as 50 frames."""
    if noise_dbfs is None:
        return [bytes(2 * FRAME_SAMPLES)]
    rms = 32768.0 * 10 ** (noise_dbfs / 20)
    noise = np.random.default_rng(seed).normal(0.0, rms, NOISE_FRAMES * FRAME_SAMPLES)
    pcm = np.clip(np.round(noise), -32768, 32767).astype("<i2")
    return [chunk.tobytes() for chunk in pcm.reshape(NOISE_FRAMES, FRAME_SAMPLES)]


class _Device:
    def __init__(self, socket: DeviceSocket, index: int, speech: SpeechLoop | None) -> None:
        self.socket = socket
        self.index = index
        self.speech = speech
        self.pending: collections.deque[tuple[float, Window | None]] = collections.deque()


class IdleFleet:
    def __init__(
        self,
        *,
        noise_dbfs: float | None,
        heartbeat_every_s: float | None,
        speech: list[SpokenClip] | None = None,
        gap_s: float = 1.0,
        reply_timeout_s: float = 10.0,
    ) -> None:
        """With `speech`, every device says these clips in a loop (see `benchmarks.idle.speech_loop`); with
        `heartbeat_every_s=None`, no device sends heartbeats."""
        self._frames = frames(noise_dbfs)
        self._speech = speech
        self._gap_s = gap_s
        self._reply_timeout_s = reply_timeout_s
        self._heartbeat_ticks = (
            None if heartbeat_every_s is None else max(1, round(heartbeat_every_s / FRAME_S))
        )
        self._devices: list[_Device] = []
        self._window: Window | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def size(self) -> int:
        return len(self._devices)

    def closed(self) -> list[str]:
        """Why each closed socket closed."""
        return [d.socket.closed_with or "closed" for d in self._devices if d.socket.is_closed]

    async def connect(self, base_url: str, device_id: str, token: str) -> None:
        """Connect one more device; it streams from the next tick on."""
        device: _Device | None = None

        def on_message(message: Received) -> None:
            if device is None:
                return
            if message.type == "heartbeat_ack" and device.pending:
                sent_at, window = device.pending.popleft()
                if window is not None:
                    window.answered(round((message.at - sent_at) * 1000, 2))
            elif device.speech is not None:
                device.speech.on_message(message)

        socket = await DeviceSocket.connect(base_url, device_id, token, on_message=on_message)
        device = self._add(socket)

    def add(self, socket: DeviceSocket) -> None:
        """Stream to a socket of any protocol, connected already, from the next tick on. Its messages
        stay with the socket (no heartbeat or reply is read from them): for a fleet made with
        `heartbeat_every_s=None` and no `speech`."""
        self._add(socket)

    def _add(self, socket: DeviceSocket) -> _Device:
        device = _Device(socket, len(self._devices), self._speech_loop(len(self._devices)))
        self._devices.append(device)
        return device

    def _speech_loop(self, index: int) -> SpeechLoop | None:
        if not self._speech:
            return None
        clips = self._speech[index % len(self._speech) :] + self._speech[: index % len(self._speech)]
        first_at = time.perf_counter() + LEAD_IN_S + stagger(index)
        return SpeechLoop(clips, first_at=first_at, gap_s=self._gap_s, reply_timeout_s=self._reply_timeout_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="idle-fleet")

    def begin_window(self) -> Window:
        self._window = Window()
        return self._window

    async def end_window(self, *, grace_s: float = 1.0) -> Window:
        """Stop counting; heartbeats still in flight get `grace_s` to be answered, replies the reply
        timeout (a reply that does not come by then counts as missed)."""
        window = self._window
        assert window is not None, "begin_window() first"
        self._window = None
        window.closing = True
        if window.replies_in_flight > 0:
            grace_s = max(grace_s, self._reply_timeout_s + 1.0)
        if window.in_flight > 0 or window.replies_in_flight > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(window.drained.wait(), grace_s)
        return window

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*(d.socket.close() for d in self._devices))

    async def _run(self) -> None:
        start = time.perf_counter()
        tick = 0
        while True:
            began = time.perf_counter()
            for device in list(self._devices):
                if not device.socket.is_closed:
                    await self._send(device, tick)
            self._note(began - (start + tick * FRAME_S), time.perf_counter() - began)
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * FRAME_S - time.perf_counter()))

    async def _send(self, device: _Device, tick: int) -> None:
        if device.speech is not None:
            frame = device.speech.frame(self._window)
        else:
            frame = self._frames[(tick + device.index) % len(self._frames)]
        with contextlib.suppress(ConnectionClosed):
            await device.socket.send_audio(frame)
            if self._heartbeat_ticks and (tick + 7 * device.index) % self._heartbeat_ticks == 0:
                device.pending.append((time.perf_counter(), self._window))
                await device.socket.connection.send(HEARTBEAT)
                if self._window is not None:
                    self._window.heartbeats_sent += 1
                    self._window.in_flight += 1

    def _note(self, late_s: float, took_s: float) -> None:
        window = self._window
        if window is None:
            return
        window.ticks += 1
        window.max_lateness_ms = max(window.max_lateness_ms, round(late_s * 1000, 1))
        window.max_tick_ms = max(window.max_tick_ms, round(took_s * 1000, 1))
        if late_s > LATE_S:
            window.late_ticks += 1
