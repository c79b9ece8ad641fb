"""The shared Silero VAD: events on real speech, the energy gate, chunking, batching, idle cost."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from audio_fixtures import Fixture, load_fixtures
from pipeline.engines.vad import WINDOW_S, SharedSileroVAD, VADEvent, VADParams, VADStream
from tests.support.speech import SAMPLE_RATE, noise, silence, speak

LEAD_S = 0.5


@pytest.fixture(scope="module")
def vad() -> Iterator[SharedSileroVAD]:
    engine = SharedSileroVAD()
    yield engine
    engine.close()


def utterance(
    text: str, *, background_dbfs: float | None = None
) -> tuple[npt.NDArray[np.float32], float, float]:
    """`text` with LEAD_S of quiet before it and 1 s after; returns the audio, speech onset and end."""
    speech = speak(text)
    audio = np.concatenate([silence(LEAD_S), speech, silence(1.0)])
    if background_dbfs is not None:
        audio = audio + noise(audio.size / SAMPLE_RATE, background_dbfs)
    return audio, LEAD_S, LEAD_S + speech.size / SAMPLE_RATE


def kinds(events: list[VADEvent]) -> list[str]:
    return [event.kind for event in events]


def segments(events: list[VADEvent]) -> int:
    """Speech segments, checking that starts and stops alternate."""
    boundaries = [kind for kind in kinds(events) if kind in ("speech_started", "speech_stopped")]
    assert boundaries == ["speech_started", "speech_stopped"] * (len(boundaries) // 2)
    return len(boundaries) // 2


@pytest.mark.parametrize("text", ["I would like a cup of tea.", "Thank you very much."])
def test_speech_starts_and_stops_on_time(vad: SharedSileroVAD, text: str) -> None:
    audio, onset, end = utterance(text)
    events = vad.open_stream().feed(audio)

    assert segments(events) == 1
    started, stopped = events[0], events[-1]
    assert started.kind == "speech_started"
    assert onset - WINDOW_S <= started.edge_s <= onset + 0.1
    assert onset < started.at_s <= onset + 0.2
    # Decided at most stop_silence_ms plus one window after the speech ends.
    assert stopped.kind == "speech_stopped"
    assert end < stopped.at_s <= end + 0.2 + WINDOW_S
    assert abs(stopped.edge_s - end) <= 2 * WINDOW_S
    # Every stop is announced by a pause at the same edge, so ASR can start there.
    assert events[-2] == VADEvent(kind="pause_started", at_s=stopped.edge_s + WINDOW_S, edge_s=stopped.edge_s)


@pytest.mark.parametrize("fixture", load_fixtures(), ids=lambda fixture: fixture.name)
def test_committed_fixtures(vad: SharedSileroVAD, fixture: Fixture) -> None:
    """Piper and espeak voices, a 700 ms mid-sentence pause, slow read speech: one turn each."""
    pcm = np.concatenate([fixture.pcm, np.zeros(SAMPLE_RATE, dtype=np.int16)])

    assert segments(vad.open_stream(params=VADParams(stop_silence_ms=800)).feed(pcm)) == 1
    stopped = vad.open_stream().feed(pcm)[-1]
    assert stopped.kind == "speech_stopped"
    assert stopped.at_s <= fixture.speech_end_s + 0.2 + WINDOW_S


@pytest.mark.parametrize("background_dbfs", [-50.0, -40.0])
def test_speech_in_background_noise(vad: SharedSileroVAD, background_dbfs: float) -> None:
    """Noise above the gate goes to the model; the model itself lingers a little after speech in noise."""
    audio, onset, end = utterance("I would like a cup of tea.", background_dbfs=background_dbfs)
    events = vad.open_stream().feed(audio)

    assert segments(events) == 1
    assert onset < events[0].at_s <= onset + 0.2
    assert end < events[-1].at_s <= end + 0.2 + 0.25


@pytest.mark.parametrize("dbfs", [None, -70.0, -50.0, -40.0])
def test_silence_and_low_noise_make_no_events(vad: SharedSileroVAD, dbfs: float | None) -> None:
    audio = silence(5.0) if dbfs is None else noise(5.0, dbfs, seed=7)
    stream = vad.open_stream(keep_probabilities=True)
    calls = vad.model_calls

    assert stream.feed(audio) == []
    assert not stream.speaking
    assert stream.position_s == pytest.approx(5.0)
    if dbfs is None or dbfs < VADParams().energy_floor_dbfs:
        # Under the energy gate: not one model call.
        assert vad.model_calls == calls
        assert stream.probabilities == [0.0] * len(stream.probabilities or [])
    else:
        assert vad.model_calls > calls


def test_pause_inside_a_sentence_is_one_segment_with_a_long_stop_silence(vad: SharedSileroVAD) -> None:
    audio = np.concatenate(
        [silence(0.5), speak("Hello, how can I help you"), silence(0.7), speak("today?"), silence(1.0)]
    )

    long_stop = vad.open_stream(params=VADParams(stop_silence_ms=800)).feed(audio)
    assert segments(long_stop) == 1
    assert "speech_resumed" in kinds(long_stop)
    # With the default 200 ms the same pause ends the segment: the parameter is what keeps it whole.
    assert segments(vad.open_stream().feed(audio)) >= 2


def test_odd_sized_chunks_give_the_same_events_as_one_feed(vad: SharedSileroVAD) -> None:
    audio, _, _ = utterance("I would like a cup of tea.", background_dbfs=-50.0)
    pcm = (audio * 32767).astype(np.int16)
    whole = vad.open_stream(keep_probabilities=True)
    whole_events = whole.feed(pcm)

    chunked = vad.open_stream(keep_probabilities=True)
    chunked_events: list[VADEvent] = []
    sizes = [1, 7, 320, 511, 513, 1000, 33, 0]
    start, i = 0, 0
    while start < pcm.size:
        size = sizes[i % len(sizes)]
        chunked_events += chunked.feed(pcm[start : start + size])
        start, i = start + size, i + 1

    assert chunked_events == whole_events
    assert chunked.probabilities == whole.probabilities
    assert chunked.position_s == whole.position_s


def speech_mix(n: int) -> list[npt.NDArray[np.float32]]:
    """`n` different streams: several sentences, offsets, gains and backgrounds, some all silent."""
    texts = ["I would like a cup of tea.", "Thank you very much.", "What time is my medication?"]
    streams = []
    for i in range(n):
        if i % 5 == 4:
            streams.append(silence(2.0))
            continue
        speech = speak(texts[i % len(texts)]) * (0.3 + 0.1 * (i % 7))
        audio = np.concatenate([silence(0.1 + 0.037 * i), speech, silence(0.6)])
        if i % 2:
            audio = audio + noise(audio.size / SAMPLE_RATE, -55.0, seed=i)
        streams.append(audio.astype(np.float32))
    return streams


async def feed_in_chunks(
    vad: SharedSileroVAD, streams: list[VADStream], audios: list[npt.NDArray[np.float32]]
) -> list[list[VADEvent]]:
    """All streams at once in 20 ms chunks, as live devices would send them."""
    chunk = SAMPLE_RATE // 50
    events: list[list[VADEvent]] = [[] for _ in streams]
    longest = max(audio.size for audio in audios)
    for start in range(0, longest, chunk):
        pieces = [audio[start : start + chunk] for audio in audios]
        results = await asyncio.gather(*(vad.feed_async(s, p) for s, p in zip(streams, pieces, strict=True)))
        for sink, result in zip(events, results, strict=True):
            sink += result
    return events


@pytest.mark.parametrize("count", [3, 50])
async def test_batched_inference_equals_per_stream(vad: SharedSileroVAD, count: int) -> None:
    """3 streams stay under the inline limit; 50 go to the worker thread."""
    audios = speech_mix(count)
    alone = [vad.open_stream(keep_probabilities=True) for _ in audios]
    alone_events = [stream.feed(audio) for stream, audio in zip(alone, audios, strict=True)]
    calls_alone = vad.model_calls

    batched = [vad.open_stream(keep_probabilities=True) for _ in audios]
    batched_events = await feed_in_chunks(vad, batched, audios)
    calls_batched = vad.model_calls - calls_alone

    assert batched_events == alone_events
    for a, b in zip(alone, batched, strict=True):
        np.testing.assert_allclose(b.probabilities or [], a.probabilities or [], atol=1e-5)
    assert sum(segments(events) for events in batched_events) >= count * 4 // 5
    # Batching happened: far fewer model calls than windows scored.
    assert calls_batched < sum(len(b.probabilities or []) for b in batched) / 2


async def test_a_stream_takes_one_feed_at_a_time(vad: SharedSileroVAD) -> None:
    stream = vad.open_stream()
    speech = speak("Thank you very much.")[:2048]
    first = asyncio.ensure_future(vad.feed_async(stream, speech))
    await asyncio.sleep(0)  # let it queue
    with pytest.raises(RuntimeError, match="fed again"):
        stream.feed(speech)
    await first
    assert stream.feed(speech[:100]) == []


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="stop_threshold"):
        VADParams(start_threshold=0.3, stop_threshold=0.5)
    with pytest.raises(ValueError, match="negative"):
        VADParams(stop_silence_ms=-1)
    assert VADParams(min_speech_ms=100, stop_silence_ms=200).stop_silence_windows == 6


async def test_300_silent_streams_never_call_the_model(vad: SharedSileroVAD) -> None:
    """One simulated second of 20 ms chunks from 300 silent devices: no model call at all.

    What that costs in CPU is measured by `benchmarks/micro/test_vad_step.py` (silence).
    """
    streams = [vad.open_stream() for _ in range(300)]
    chunk = np.zeros(SAMPLE_RATE // 50, dtype=np.int16)
    calls = vad.model_calls
    for _ in range(50):
        for stream in streams:
            assert await vad.feed_async(stream, chunk) == []

    assert vad.model_calls == calls


def test_an_open_stream_holds_a_few_kilobytes(vad: SharedSileroVAD) -> None:
    chunk = noise(0.1, -30.0)  # scored by the model, so each stream holds a recurrent state
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        streams = [vad.open_stream() for _ in range(300)]
        for stream in streams:
            stream.feed(chunk)
        per_stream = (tracemalloc.get_traced_memory()[0] - before) / len(streams)
    finally:
        tracemalloc.stop()
    assert per_stream < 8 * 1024, f"{per_stream:.0f} bytes per stream"


def test_a_stream_expecting_speech_starts_it_on_its_first_window(vad: SharedSileroVAD) -> None:
    """After a turn is judged over, the speaker going on must cut the reply at once."""
    audio, _, _ = utterance("Thank you very much.")
    usual = vad.open_stream(keep_probabilities=True)
    usual_start = usual.feed(audio)[0]
    assert usual.probabilities is not None
    first_voiced = next(i for i, p in enumerate(usual.probabilities) if p >= usual.params.start_threshold)

    eager = vad.open_stream()
    eager.expect_speech(len(audio) / SAMPLE_RATE)
    eager_start = eager.feed(audio)[0]

    assert eager_start.kind == usual_start.kind == "speech_started"
    assert eager_start.at_s == pytest.approx((first_voiced + 1) * WINDOW_S)
    assert eager_start.at_s < usual_start.at_s
    assert eager_start.edge_s == usual_start.edge_s
