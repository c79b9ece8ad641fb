"""A live `VoiceSession` for the benchmarks, built as the server's `VoiceLink` builds one.

The session is real: the server's engines and persona bindings, its five
pipecat stages, its paced output. Two things stand in for the server around it:

- `RecordingListener` is the transport's side of the session (the server's
  `DeviceVoice` turns these calls into WebSocket messages); it keeps when the
  events a benchmark waits for arrived, and nothing else.
- `SinkWatch` hears chosen frame types reach the end of the graph, through
  pipecat's own `on_frame_reached_downstream` event of the session's worker.
  That worker is private to `VoiceSession` (`_worker`): the benchmarks use it
  only to watch the sink and to queue probe frames at the head.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from pipecat.frames.frames import DataFrame, Frame, InterruptionFrame, SystemFrame
from pipecat.pipeline.worker import PipelineWorker

from pipeline.graph.events import LedState
from pipeline.graph.session import VoiceSession
from pipeline.graph.timeline import TurnTimeline
from server.settings import Settings
from server.voice.runtime import VoiceRuntime

T = TypeVar("T")

WAIT_S = 10.0
"""Longest wait for any event; a benchmark that hits it fails instead of hanging."""
OPENING_TURN = "Hello, how are you today?"


class ProbeFrame(DataFrame):
    """A data frame none of the session's stages acts on: each forwards it, in order, to the next."""


class SystemProbeFrame(SystemFrame):
    """The same as a system frame: pipecat hands it on ahead of queued data frames."""


class RecordingListener:
    """A `SessionListener` that notes the reply audio, the end of a reply and the cut of one."""

    def __init__(self) -> None:
        self.first_audio = asyncio.Event()
        self.first_audio_at = 0.0
        self.reply_done = asyncio.Event()
        self.stop_playback_at: float | None = None

    def reset(self) -> None:
        self.first_audio.clear()
        self.reply_done.clear()
        self.stop_playback_at = None

    async def on_led(self, state: LedState) -> None:
        pass

    async def on_transcript(self, text: str, timeline: TurnTimeline) -> None:
        pass

    async def on_reply_audio(
        self, audio: bytes, sample_rate: int, text: str, timeline: TurnTimeline | None
    ) -> None:
        if not self.first_audio.is_set():
            self.first_audio_at = time.perf_counter()
            self.first_audio.set()

    async def on_reply_done(
        self, text: str, audio: bytes, sample_rate: int, timeline: TurnTimeline | None
    ) -> None:
        self.reply_done.set()

    async def on_stop_playback(self) -> None:
        self.stop_playback_at = time.perf_counter()

    async def on_turn_done(
        self, user_text: str, spoken_text: str, interrupted: bool, timeline: TurnTimeline | None
    ) -> None:
        pass


class SinkWatch:
    """Frames of the given types reaching the end of a worker's pipeline, with their arrival time."""

    def __init__(self, worker: PipelineWorker, types: tuple[type[Frame], ...]) -> None:
        self._events = {t: asyncio.Event() for t in types}
        self.arrived_at: dict[type[Frame], float] = {}
        worker.add_reached_downstream_filter(types)
        # pipecat runs this handler as a task: one loop turn after the sink got the frame.
        worker.add_event_handler("on_frame_reached_downstream", self._reached)

    async def _reached(self, worker: PipelineWorker, frame: Frame) -> None:
        for kind, event in self._events.items():
            if isinstance(frame, kind):
                self.arrived_at[kind] = time.perf_counter()
                event.set()

    def expect(self, kind: type[Frame]) -> asyncio.Event:
        """The event the next frame of `kind` at the sink sets (cleared now)."""
        event = self._events[kind]
        event.clear()
        return event


@dataclass(frozen=True, eq=False)
class LiveSession:
    session: VoiceSession
    listener: RecordingListener
    watch: SinkWatch

    @property
    def worker(self) -> PipelineWorker:
        return self.session._worker


async def start_live_session(runtime: VoiceRuntime, settings: Settings, persona_id: str) -> LiveSession:
    """A started session, one typed turn into its conversation (its reply still playing).

    Built as `VoiceLink.start` builds one for a device with no history (default
    turn parameters: no audio is fed here). The sink is watched for probes and
    interruptions.
    """
    listener = RecordingListener()
    session = VoiceSession(
        engines=runtime.engines,
        binding=runtime.bindings[persona_id],
        listener=listener,
        keep_last=settings.context_keep_last,
        lead_s=settings.output_lead_ms / 1000,
    )
    watch = SinkWatch(session._worker, (ProbeFrame, SystemProbeFrame, InterruptionFrame))
    await within(session.start())
    await session.push_text(OPENING_TURN)
    await within(listener.reply_done.wait())
    return LiveSession(session=session, listener=listener, watch=watch)


async def within(awaitable: Coroutine[Any, Any, T]) -> T:
    return await asyncio.wait_for(awaitable, WAIT_S)


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, here and now, as one step of a task would.

    For timing a call whose work is all synchronous without also timing the event
    loop around it. Raises if the coroutine does suspend: it then needs the loop.
    """
    try:
        coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coroutine.close()
    raise RuntimeError("the coroutine suspended: it cannot be driven without the event loop")
