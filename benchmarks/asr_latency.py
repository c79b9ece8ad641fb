"""Whisper inference time for 1, 2 and 4 s of speech, fitted and full audio context.

    .venv/bin/python -m benchmarks.asr_latency [--runs 7]

The speech is cut from the committed fixtures (their speech parts joined, then
cut to length). Prints a markdown table of median and worst inference time,
one model, one worker, cpu_threads=2, after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics

import numpy as np

from audio_fixtures import SAMPLE_RATE, load_fixtures
from pipeline.engines.asr import AudioContext, WhisperRecognizer, default_whisper_model_dir

LEAD_S = 0.3  # every fixture starts with 300 ms of silence


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {context: await measure(context, args.runs) for context in ("fit", "full")}
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, {args.runs} runs each\n")
    print("| speech | fit median | fit max | full median | full max |")
    print("|---|---|---|---|---|")
    for seconds in (1.0, 2.0, 4.0):
        fit, full = results["fit"][seconds], results["full"][seconds]
        print(
            f"| {seconds:.0f} s | {statistics.median(fit):.0f} ms | {max(fit):.0f} ms "
            f"| {statistics.median(full):.0f} ms | {max(full):.0f} ms |"
        )


if __name__ == "__main__":
    asyncio.run(main())
