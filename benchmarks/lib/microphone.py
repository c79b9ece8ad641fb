"""A device's microphone in real time: 20 ms PCM16 frames paced by the wall clock, silence between utterances.

Frame `i` is sent at `start + i * 20 ms`, an absolute schedule, so a late frame
is followed by the next ones at once and the stream never drifts from real
time. The microphone records how late it ever was, so a report can say
whether the client itself kept up. Shared by the benchmarks and the end-to-end
tests (`tests/voice`), with the simulated device of `benchmarks.lib.device`.

Frames go as binary WebSocket messages at the rate declared when the socket
connected (`?sample_rate=`), as every benchmark sends them; or, for the tests
of the other framing, as `audio_stream` messages of base64 PCM that declare
their `sample_rate` (`json`) or do not (`json-no-rate`).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import time
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from websockets.exceptions import ConnectionClosed

FRAME_S = 0.02
"""A device sends its microphone audio in 20 ms frames."""
LATE_S = FRAME_S
"""A frame sent more than one frame after its time counts as late."""

Int16 = npt.NDArray[np.int16]
Framing = Literal["binary", "json", "json-no-rate"]


@dataclass(frozen=True)
class Utterance:
    """When an utterance went out, as `time.perf_counter()` values."""

    started: float
    """Its first frame was sent."""
    ended: float
    """Its last frame was sent."""
    mark_at: float
    """The moment the sample at `mark_sample` was spoken, for a device that sends each frame as soon as
    it is captured: the send time of the frame holding it, less the audio after it in that frame (the
    last frame's send time when no `mark_sample` was given)."""


class AudioOut(Protocol):
    """Where the microphone's frames go: a `DeviceSocket`, or any `VoiceLink`."""

    @property
    def device_id(self) -> str: ...

    async def send_audio(self, pcm16: bytes) -> None: ...


@runtime_checkable
class JsonOut(AudioOut, Protocol):
    """A device that also sends JSON messages (a `DeviceSocket`): for the `json` framings."""

    async def send(self, type_: str, payload: Any) -> None: ...


class Microphone:
    """Streams one device's microphone as 20 ms frames (binary ones by default, see the module's doc)."""

    def __init__(self, device: AudioOut, *, sample_rate: int = 16_000, framing: Framing = "binary") -> None:
        self._device = device
        self._rate = sample_rate
        self._framing = framing
        self._frame = round(sample_rate * FRAME_S)
        self._silence = np.zeros(self._frame, dtype=np.int16).tobytes()
        self._pending: collections.deque[tuple[Int16, int, asyncio.Future[Utterance]]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0
        self.late_frames = 0
        self.max_lateness_s = 0.0

    async def __aenter__(self) -> Microphone:
        self._task = asyncio.create_task(self._run(), name=f"microphone-{self._device.device_id}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await self._task

    async def say(self, pcm: Int16, *, mark_sample: int = -1) -> Utterance:
        """Stream `pcm` (int16 mono at the microphone's rate) next; returns once its last frame is sent.

        `mark_sample` (e.g. where the speech ends) is the sample whose time the utterance reports.
        """
        assert self._task is not None, "the microphone is not running"
        assert not self._task.done(), "the microphone has stopped"
        future: asyncio.Future[Utterance] = asyncio.get_running_loop().create_future()
        self._pending.append((pcm, mark_sample, future))
        return await future

    async def _run(self) -> None:
        try:
            await self._stream()
        except BaseException as exc:
            for _, _, future in self._pending:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("stopped"))
            raise

    async def _stream(self) -> None:
        start = time.perf_counter()
        speech: Int16 | None = None
        mark_sample = 0
        done: asyncio.Future[Utterance] | None = None
        offset = 0
        began = mark_at = 0.0
        while True:
            if speech is None and self._pending:
                speech, mark_sample, done = self._pending.popleft()
                offset, mark_at = 0, 0.0
            due = start + self.frames_sent * FRAME_S
            sent_at = time.perf_counter()
            self._note_lateness(sent_at - due)
            if speech is None:
                await self._send(self._silence)
            else:
                await self._send(self._frame_of(speech, offset))
                if offset == 0:
                    began = sent_at
                if offset <= mark_sample < offset + self._frame:
                    mark_at = sent_at - (offset + self._frame - mark_sample) / self._rate
                offset += self._frame
            self.frames_sent += 1
            if speech is not None and offset >= len(speech):
                assert done is not None
                done.set_result(Utterance(started=began, ended=sent_at, mark_at=mark_at or sent_at))
                speech, done = None, None
            await asyncio.sleep(max(0.0, start + self.frames_sent * FRAME_S - time.perf_counter()))

    async def _send(self, pcm16: bytes) -> None:
        if self._framing == "binary":
            await self._device.send_audio(pcm16)
            return
        device = self._device
        assert isinstance(device, JsonOut), f"{type(device).__name__} sends binary frames only"
        payload: dict[str, Any] = {"audio_b64": base64.b64encode(pcm16).decode()}
        if self._framing == "json":
            payload["sample_rate"] = self._rate
        await device.send("audio_stream", payload)

    def _frame_of(self, speech: Int16, offset: int) -> bytes:
        frame = speech[offset : offset + self._frame]
        if len(frame) < self._frame:
            frame = np.concatenate([frame, np.zeros(self._frame - len(frame), dtype=np.int16)])
        return frame.astype("<i2").tobytes()

    def _note_lateness(self, late_s: float) -> None:
        self.max_lateness_s = max(self.max_lateness_s, late_s)
        if late_s > LATE_S:
            self.late_frames += 1
