"""Resampling device audio to the 16 kHz the VAD, Smart Turn and Whisper take.

`StreamResampler` is what the listening stage runs on every 20 ms frame a
device sends at another rate (soxr HQ, filter state kept across frames);
`resample` is the whole-clip form the REST dialog endpoint uses for uploaded
audio. The signal is speech (an audio fixture, resampled up to each source
rate once), fed frame after frame in order. Nothing in the server resamples
TTS output (replies go out at the voice's own rate), so 22.05 → 48 kHz is not
measured.
"""

from __future__ import annotations

import itertools

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from audio_fixtures import load_fixtures
from pipeline.audio import Int16Array, StreamResampler, resample

TARGET = 16_000
FRAME_S = 0.02
CLIP_S = 3.0


def speech_at(rate: int) -> Int16Array:
    fixture = max(load_fixtures(), key=lambda f: f.duration_s)
    return resample(fixture.pcm, fixture.sample_rate, rate)


@pytest.mark.parametrize("rate", [8_000, 22_050, 24_000, 44_100, 48_000])
def test_stream_resample_frame(benchmark: BenchmarkFixture, rate: int) -> None:
    audio = speech_at(rate)
    size = round(rate * FRAME_S)
    frames = itertools.cycle([audio[i : i + size] for i in range(0, len(audio) - size + 1, size)])
    resampler = StreamResampler(TARGET)

    benchmark.group = "resampling"
    benchmark(lambda: resampler.process(next(frames), rate))
    benchmark.extra_info.update(
        measures=f"StreamResampler.process of one 20 ms frame, {rate} -> {TARGET} Hz", frame_samples=size
    )


def test_resample_clip(benchmark: BenchmarkFixture) -> None:
    rate = 48_000
    clip = speech_at(rate)[: round(CLIP_S * rate)]
    benchmark.group = "resampling"
    out = benchmark(resample, clip, rate, TARGET)
    assert abs(len(out) - CLIP_S * TARGET) <= 1
    benchmark.extra_info.update(
        measures=f"resample of a {CLIP_S} s clip, {rate} -> {TARGET} Hz (REST dialog)"
    )
