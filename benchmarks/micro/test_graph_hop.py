"""A frame's trip through the pipecat graph a live `VoiceSession` builds.

A probe frame is queued at the head of the session's worker (where the
listening stage and `push_text` queue theirs) and timed until it reaches the
worker's sink, past all five stages: Transcriber, ReplyGenerator,
ClauseSplitting, PersonaVoice, DeviceOutput. No stage acts on a probe, so this
is pipecat's cost of handing a frame along (each stage's queue and task, our
`process_frame` dispatch), not any stage's work. A data frame takes the
ordered path every transcript, reply piece and audio chunk takes; a system
frame the out-of-band path of interruptions and turn commits.

Each time includes one `run_until_complete` of the benchmarks' loop and the
one loop turn pipecat takes to start its sink event handler; the loop's own
part is measured alone by `test_loop_round_trip`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import pytest
from pipecat.frames.frames import Frame
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.micro.live import LiveSession, ProbeFrame, SystemProbeFrame, start_live_session, within
from server.settings import Settings
from server.voice.runtime import VoiceRuntime


@pytest.fixture(scope="module")
def live(loop: asyncio.AbstractEventLoop, runtime: VoiceRuntime, settings: Settings) -> Iterator[LiveSession]:
    live = loop.run_until_complete(start_live_session(runtime, settings, "companion"))
    # Idle: the opening reply cut, as a device that has stopped listening to it.
    loop.run_until_complete(live.session.interrupt())
    try:
        yield live
    finally:
        loop.run_until_complete(live.session.stop())


@pytest.mark.parametrize("kind", [ProbeFrame, SystemProbeFrame], ids=["data_frame", "system_frame"])
def test_frame_hop(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, live: LiveSession, kind: type[Frame]
) -> None:
    in_loop: list[float] = []

    async def hop() -> None:
        arrived = live.watch.expect(kind)
        queued = time.perf_counter()
        await live.worker.queue_frame(kind())
        await within(arrived.wait())
        in_loop.append(live.watch.arrived_at[kind] - queued)

    loop.run_until_complete(hop())  # the first probe of a kind sets up pipecat's lazy paths
    benchmark.group = "graph hop"
    benchmark(lambda: loop.run_until_complete(hop()))
    benchmark.extra_info.update(
        measures=f"{kind.__name__} queued at the worker's head until it reaches the sink, past 5 stages",
        in_loop_median_us=round(statistics.median(in_loop) * 1e6, 1),
    )


def test_loop_round_trip(benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop) -> None:
    """The harness alone: `run_until_complete` of a coroutine that returns at once."""

    async def nothing() -> None:
        return None

    benchmark.group = "graph hop"
    benchmark(lambda: loop.run_until_complete(nothing()))
    benchmark.extra_info["measures"] = "loop.run_until_complete of an empty coroutine (harness overhead)"
