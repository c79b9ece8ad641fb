"""One VAD step for N streams at once, through the shared, batched Silero VAD.

A step gives each of N `VADStream`s one window of audio (512 samples, 32 ms
at 16 kHz: the unit the model scores; a device's 20 ms frames complete one
every 1.6 frames) through `feed_async`, all at once as N device sockets would,
and waits until every stream has its result. `SharedSileroVAD` is built with
the server's defaults: up to 64 streams per model call, a partial batch flushed
after 2 ms, rounds of more than 16 windows on its worker thread.

- noise: white noise at -30 dBFS, above the -60 dBFS energy gate, so every
  window goes to the model (the cost of a live microphone);
- silence: digital silence, under the gate: no model call (a muted device).

The benchmark's time is the step's wall time; `extra_info` adds the CPU the
process used per step (both threads) and per stream, and the model calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pipeline.engines.vad import WINDOW, SharedSileroVAD

NOISE_DBFS = -30.0


@pytest.fixture(scope="module")
def vad() -> Iterator[SharedSileroVAD]:
    vad = SharedSileroVAD()
    try:
        yield vad
    finally:
        vad.close()


def window(audio: str) -> np.ndarray:
    if audio == "silence":
        return np.zeros(WINDOW, dtype=np.int16)
    rms = 32768 * 10 ** (NOISE_DBFS / 20)
    return np.random.default_rng(3).normal(0, rms, WINDOW).astype(np.int16)


@pytest.mark.parametrize("audio", ["noise", "silence"])
@pytest.mark.parametrize("streams", [1, 50, 300])
def test_vad_step(
    benchmark: BenchmarkFixture,
    loop: asyncio.AbstractEventLoop,
    vad: SharedSileroVAD,
    streams: int,
    audio: str,
) -> None:
    pcm = window(audio)
    vads = [vad.open_stream() for _ in range(streams)]
    cpu = [0.0]
    steps = [0]

    async def feed_all() -> None:
        await asyncio.gather(*(stream.feed_async(pcm) for stream in vads))

    def step() -> None:
        started = time.process_time()
        loop.run_until_complete(feed_all())
        cpu[0] += time.process_time() - started
        steps[0] += 1

    for _ in range(3):  # warm: the worker thread started, every stream's state allocated
        step()
    cpu[0], steps[0] = 0.0, 0
    calls = vad.model_calls
    benchmark.group = f"vad step: {audio}"
    benchmark(step)
    cpu_per_step = cpu[0] / steps[0]
    benchmark.extra_info.update(
        measures=f"{streams} VADStream.feed_async of one 512-sample window each, gathered",
        streams=streams,
        audio=audio,
        cpu_ms_per_step=round(cpu_per_step * 1e3, 3),
        cpu_us_per_stream=round(cpu_per_step / streams * 1e6, 2),
        model_calls_per_step=round((vad.model_calls - calls) / steps[0], 2),
    )
