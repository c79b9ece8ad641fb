"""Persona swap on a live session: `VoiceSession.switch()` between companion and storyteller.

The session is started, has answered one typed turn and is speaking its reply
when the first swap lands. Three measures, each from the start of the call:

- the call itself, as `VoiceLink` makes it (the number the server records in
  `/metrics/latency` as the in-graph swap);
- until the interruption it queued has crossed every stage and reached the sink
  (every stage has dropped the old persona's work and reads the new binding at its
  next frame);
- until the first audio of a transition line, in the new voice, reaches the
  transport (Piper synthesis of the line included), the old line being cut on the way.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import pytest
from pipecat.frames.frames import InterruptionFrame
from pytest_benchmark.fixture import BenchmarkFixture

from benchmarks.micro.live import LiveSession, drive, start_live_session, within
from pipeline.graph.persona import PersonaBinding
from server.settings import Settings
from server.voice.runtime import VoiceRuntime

PERSONAS = ("companion", "storyteller")
TRANSITION = "Hello again, I'm here now."
"""The line `benchmarks.switch.latency` has the new persona say."""


@pytest.fixture(scope="module")
def live(loop: asyncio.AbstractEventLoop, runtime: VoiceRuntime, settings: Settings) -> Iterator[LiveSession]:
    live = loop.run_until_complete(start_live_session(runtime, settings, PERSONAS[0]))
    try:
        yield live
    finally:
        loop.run_until_complete(live.session.stop())


class Alternate:
    """The binding to swap to next: the persona the session is not using."""

    def __init__(self, runtime: VoiceRuntime, live: LiveSession) -> None:
        self._runtime = runtime
        self._live = live

    def __call__(self) -> PersonaBinding:
        current = self._live.session.binding.persona_id
        return self._runtime.bindings[PERSONAS[1] if current == PERSONAS[0] else PERSONAS[0]]


def _us(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1e6, 1)


def test_swap_call(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, runtime: VoiceRuntime, live: LiveSession
) -> None:
    """The `switch()` call alone: an interruption queued at the head, the binding swapped."""
    session, watch, target = live.session, live.watch, Alternate(runtime, live)
    interrupted: list[asyncio.Event] = []
    bindings: list[PersonaBinding] = []
    reported: list[float] = []

    def settle() -> None:
        # Untimed: let the previous swap's interruption cross the graph, so every call finds it idle.
        if interrupted:
            loop.run_until_complete(within(interrupted.pop().wait()))
        interrupted.append(watch.expect(InterruptionFrame))
        bindings.append(target())

    def swap() -> None:
        # switch() never suspends (its frame goes onto an unbounded asyncio.Queue), so the
        # call is timed on its own, without the loop around it.
        binding = bindings.pop()
        reported.append(drive(session.switch(binding, transition_message=None, preserve_context=True)))

    benchmark.group = "persona swap"
    benchmark.pedantic(swap, setup=settle, rounds=300, warmup_rounds=5)
    loop.run_until_complete(within(interrupted.pop().wait()))
    benchmark.extra_info.update(
        measures="VoiceSession.switch() call, no transition line, graph idle",
        switch_reported_median_us=_us(reported),
    )


def test_swap_until_interrupted(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, runtime: VoiceRuntime, live: LiveSession
) -> None:
    """From the call until its interruption reaches the end of the graph (graph idle before)."""
    session, watch, target = live.session, live.watch, Alternate(runtime, live)
    in_loop: list[float] = []

    async def swap() -> None:
        interrupted = watch.expect(InterruptionFrame)
        started = time.perf_counter()
        await session.switch(target(), transition_message=None, preserve_context=True)
        await within(interrupted.wait())
        in_loop.append(watch.arrived_at[InterruptionFrame] - started)

    benchmark.group = "persona swap"
    benchmark.pedantic(lambda: loop.run_until_complete(swap()), rounds=200, warmup_rounds=5)
    benchmark.extra_info.update(
        measures="switch() until its InterruptionFrame reaches the sink (includes one run_until_complete)",
        in_loop_median_us=_us(in_loop),
    )


def test_swap_until_new_voice(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, runtime: VoiceRuntime, live: LiveSession
) -> None:
    """From the call, with a transition line, until its first audio in the new voice reaches the transport.

    Each swap lands while the previous line is still playing at the device, so it cuts it.
    """
    session, listener, target = live.session, live.listener, Alternate(runtime, live)
    cut: list[float] = []
    to_audio: list[float] = []
    personas: list[str] = []

    def settle() -> None:
        # Untimed: the previous line fully synthesised and sent (it is still playing).
        loop.run_until_complete(within(listener.reply_done.wait()))
        listener.reset()

    async def swap() -> None:
        binding = target()
        started = time.perf_counter()
        await session.switch(binding, transition_message=TRANSITION, preserve_context=True)
        await within(listener.first_audio.wait())
        to_audio.append(listener.first_audio_at - started)
        if listener.stop_playback_at is not None:
            cut.append(listener.stop_playback_at - started)
        personas.append(binding.persona_id)

    listener.reply_done.set()  # the opening reply was done before this test started
    benchmark.group = "persona swap"
    benchmark.pedantic(lambda: loop.run_until_complete(swap()), setup=settle, rounds=12, warmup_rounds=2)
    settle()
    assert set(personas) == set(PERSONAS)
    assert cut, "no swap cut a line that was playing"
    benchmark.extra_info.update(
        measures="switch() with a transition line until its first audio reaches the transport",
        transition_line=TRANSITION,
        in_loop_median_ms=round(statistics.median(to_audio) * 1e3, 2),
        old_line_cut_median_us=_us(cut),
        old_line_cut_count=len(cut),
    )
