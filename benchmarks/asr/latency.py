"""Whisper inference time for 1, 2 and 4 s of speech, fitted and full audio context; and turns ready together.

    .venv/bin/python -m benchmarks.asr.latency [--runs 7]

The speech is cut from the committed fixtures (their speech parts joined, then
cut to length). Prints a markdown table of median and worst inference time,
one model, one worker, cpu_threads=2, after a warm-up; then, for 1, 2, 4 and 8
turns of 2 s submitted together, the time until the last is transcribed and the
CPU it took per turn, with batching (the default `max_batch=8`: one model call)
and without (`max_batch=1`: one call per turn, one after another).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import numpy as np

from audio_fixtures import SAMPLE_RATE, load_fixtures
from benchmarks.lib.report import table
from pipeline.engines.asr import AudioContext, WhisperRecognizer, default_whisper_model_dir

LEAD_S = 0.3  # every fixture starts with 300 ms of silence
TOGETHER = (1, 2, 4, 8)


def speech(seconds: float) -> np.ndarray:
    parts = [
        f.float32()[int(LEAD_S * SAMPLE_RATE) : int(f.speech_end_s * SAMPLE_RATE)] for f in load_fixtures()
    ]
    return np.concatenate(parts)[: int(seconds * SAMPLE_RATE)]


async def measure(context: AudioContext, runs: int) -> dict[float, list[float]]:
    recognizer = await WhisperRecognizer.load(model_dir=default_whisper_model_dir(), audio_context=context)
    await recognizer.warm()
    times: dict[float, list[float]] = {}
    for seconds in (1.0, 2.0, 4.0):
        audio = speech(seconds)
        times[seconds] = [(await recognizer.transcribe(audio)).inference_ms for _ in range(runs)]
    recognizer.close()
    return times


async def measure_together(max_batch: int, runs: int) -> dict[int, tuple[list[float], list[float]]]:
    """Per count of turns submitted together: (ms until the last is done, CPU ms per turn), per run."""
    recognizer = await WhisperRecognizer.load(model_dir=default_whisper_model_dir(), max_batch=max_batch)
    await recognizer.warm()
    # Different 2 s of speech for each turn, all in the same fitted window.
    audios = [speech(16.0)[i * 2 * SAMPLE_RATE : (i + 1) * 2 * SAMPLE_RATE] for i in range(max(TOGETHER))]
    results: dict[int, tuple[list[float], list[float]]] = {}
    for count in TOGETHER:
        walls, cpus = [], []
        for _ in range(runs):
            started, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(recognizer.transcribe(audio) for audio in audios[:count]))
            walls.append((time.perf_counter() - started) * 1000)
            cpus.append((time.process_time() - cpu) * 1000 / count)
        results[count] = (walls, cpus)
    recognizer.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {context: await measure(context, args.runs) for context in ("fit", "full")}
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {args.runs} runs each\n")
    print(
        "\n".join(table(["speech", "fit median", "fit max", "full median", "full max"], _by_length(results)))
    )
    batched, alone = await measure_together(8, args.runs), await measure_together(1, args.runs)
    load = os.getloadavg()[0]
    print(f"\nTurns of 2 s submitted together (median of {args.runs}; load average {load:.2f})\n")
    header = ["turns", "batched: last done", "CPU per turn", "one call each: last done", "CPU per turn"]
    print("\n".join(table(header, _together(batched, alone))))


def _by_length(results: dict[str, dict[float, list[float]]]) -> list[list[object]]:
    """Per length of speech: the median and worst inference time, fitted and full audio context."""
    rows: list[list[object]] = []
    for seconds in (1.0, 2.0, 4.0):
        fit, full = results["fit"][seconds], results["full"][seconds]
        times = _ms(statistics.median(fit), max(fit), statistics.median(full), max(full))
        rows.append([f"{seconds:.0f} s", *times])
    return rows


def _together(
    batched: dict[int, tuple[list[float], list[float]]], alone: dict[int, tuple[list[float], list[float]]]
) -> list[list[object]]:
    """Per count of turns submitted together: the time until the last is done and the CPU per turn."""
    return [
        [count, *_ms(*(statistics.median(v) for v in (*batched[count], *alone[count])))] for count in TOGETHER
    ]


def _ms(*values: float) -> list[str]:
    return [f"{v:.0f} ms" for v in values]


if __name__ == "__main__":
    asyncio.run(main())
