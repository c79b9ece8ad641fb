"""Run graph stages in a pipecat pipeline, as `VoiceSession` runs them, and queue frames one at a time.

pipecat's `run_test` sends a fixed list of frames and ends the pipeline; the
output stage needs a test to act between frames (commit a turn once audio is
held, barge in once a chunk is out). `running(...)` keeps the pipeline open
and `settle()` waits until every frame queued so far has gone through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, EndFrame, Frame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner


@dataclass
class _Marker(DataFrame):
    """Queued behind the frames a test sent; its arrival at the end means they have gone through."""


class _Sink(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[Frame] = []
        self.arrived = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, _Marker):
            self.arrived.set()
            return
        self.frames.append(frame)
        await self.push_frame(frame, direction)


class RunningGraph:
    def __init__(self, worker: PipelineWorker, sink: _Sink) -> None:
        self._worker = worker
        self._sink = sink

    @property
    def out(self) -> list[Frame]:
        """Frames that came out of the last stage."""
        return self._sink.frames

    async def queue(self, *frames: Frame) -> None:
        for frame in frames:
            await self._worker.queue_frame(frame)

    async def settle(self) -> None:
        """Wait until the data frames queued so far have been processed by every stage."""
        self._sink.arrived.clear()
        await self._worker.queue_frame(_Marker())
        await asyncio.wait_for(self._sink.arrived.wait(), 5.0)


@contextlib.asynccontextmanager
async def running(stages: Sequence[FrameProcessor]) -> AsyncIterator[RunningGraph]:
    sink = _Sink()
    worker = PipelineWorker(
        Pipeline([*stages, sink]),
        cancel_on_idle_timeout=False,
        cancel_runner_on_idle_timeout=False,
        idle_timeout_secs=None,
        enable_rtvi=False,
        enable_turn_tracking=False,
        check_dangling_tasks=False,
        params=PipelineParams(audio_in_sample_rate=16_000, audio_out_sample_rate=16_000),
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
    async def _started(worker: PipelineWorker, frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False, handle_sigterm=False, check_dangling_tasks=False)
    await runner.add_workers(worker)
    run = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(started.wait(), 5.0)
        yield RunningGraph(worker, sink)
    finally:
        await worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(run), 5.0)
        except TimeoutError:
            await worker.cancel()
            await run
