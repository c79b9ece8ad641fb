"""Persona voices with the real engines: Piper (en_US-joe-medium) and the espeak-ng binary.

One bank serves the whole module, so the Piper model is loaded once.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pipeline.voices import (
    CoquiEngineVoice,
    CoquiSpec,
    EspeakSpec,
    InferencePool,
    Pcm,
    PiperEngineVoice,
    PiperSpec,
    Voice,
    VoiceBank,
    VoiceError,
    VoiceUnavailable,
    default_model_path,
)
from pipeline.voices.pool import speech_clock
from tests.support.pitch import estimate_f0, spectral_centroid

MODEL = default_model_path()
SENTENCE = "The weather is lovely today, shall we go for a walk in the garden?"
PARAGRAPH = (
    "Good morning! It is a lovely day outside. Shall we take a short walk in the garden after breakfast? "
    "The roses are in bloom, and the air is warm."
)
STEADY = PiperSpec(model_path=MODEL, noise_scale=0.0, noise_w_scale=0.0)
"""No noise: the same text gives the same samples, so two settings compare like for like."""


@pytest.fixture(scope="module")
def bank() -> Iterator[VoiceBank]:
    bank = VoiceBank(pool=InferencePool(workers=2))
    yield bank
    asyncio.run(bank.close())
    bank.pool.close()


async def speak(voice: Voice, text: str = SENTENCE) -> Pcm:
    chunks = [chunk async for chunk in voice.synthesize(text)]
    assert chunks, "no audio"
    for chunk in chunks:
        assert chunk.dtype == np.int16
        assert chunk.ndim == 1
        assert chunk.size > 0
    return np.concatenate(chunks)


def seconds(audio: Pcm, voice: Voice) -> float:
    return audio.size / voice.sample_rate


def rms(audio: Pcm) -> float:
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))


@pytest.mark.parametrize(
    "spec",
    [
        PiperSpec(model_path=MODEL),
        PiperSpec(model_path=MODEL, speed=0.92, pitch_semitones=4.0, formant_shift=1.1, volume=1.1),
        EspeakSpec(voice="en-us+m3", words_per_minute=150, pitch=60, pitch_range=70, volume=1.2),
    ],
    ids=["piper", "piper-shaped", "espeak"],
)
async def test_each_engine_speaks_a_sentence(bank: VoiceBank, spec: PiperSpec | EspeakSpec) -> None:
    voice = bank.get(spec)
    audio = await speak(voice)
    assert voice.sample_rate == 22050
    # 13 words at a conversational 120-200 words per minute, plus a little silence at the ends.
    assert 2.5 < seconds(audio, voice) < 7.0
    assert rms(audio) > 1000, "near silence"


async def test_piper_without_noise_is_deterministic(bank: VoiceBank) -> None:
    shaped = PiperSpec(model_path=MODEL, noise_scale=0.0, noise_w_scale=0.0, pitch_semitones=3.0)
    for spec in (STEADY, shaped):
        voice = bank.get(spec)
        first, second = await speak(voice), await speak(voice)
        assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("speed", [0.75, 1.5])
async def test_speed_scales_duration(bank: VoiceBank, speed: float) -> None:
    own = await speak(bank.get(STEADY))
    changed = await speak(
        bank.get(PiperSpec(model_path=MODEL, noise_scale=0.0, noise_w_scale=0.0, speed=speed))
    )
    assert changed.size / own.size == pytest.approx(1 / speed, rel=0.08)


async def test_pitch_shift_raises_f0_and_keeps_the_rate(bank: VoiceBank) -> None:
    voice = bank.get(STEADY)
    own = await speak(voice)
    higher = await speak(
        bank.get(PiperSpec(model_path=MODEL, noise_scale=0.0, noise_w_scale=0.0, pitch_semitones=4.0))
    )
    ratio = estimate_f0(higher, voice.sample_rate) / estimate_f0(own, voice.sample_rate)
    assert ratio == pytest.approx(2 ** (4 / 12), rel=0.06)
    assert higher.size / own.size == pytest.approx(1.0, rel=0.08)


async def test_formant_shift_moves_the_spectrum_not_the_pitch(bank: VoiceBank) -> None:
    voice = bank.get(STEADY)
    own = await speak(voice)
    brighter = await speak(
        bank.get(PiperSpec(model_path=MODEL, noise_scale=0.0, noise_w_scale=0.0, formant_shift=1.2))
    )
    rate = voice.sample_rate
    assert spectral_centroid(brighter, rate) > 1.08 * spectral_centroid(own, rate)
    assert estimate_f0(brighter, rate) == pytest.approx(estimate_f0(own, rate), rel=0.04)
    assert brighter.size == own.size


async def test_espeak_sounds_unlike_piper(bank: VoiceBank) -> None:
    piper, espeak = bank.get(STEADY), bank.get(EspeakSpec(voice="en-us"))
    piper_audio, espeak_audio = await speak(piper), await speak(espeak)
    piper_centroid = spectral_centroid(piper_audio, piper.sample_rate)
    assert spectral_centroid(espeak_audio, espeak.sample_rate) > 1.2 * piper_centroid


async def test_espeak_settings_reach_the_engine(bank: VoiceBank) -> None:
    low = await speak(bank.get(EspeakSpec(voice="en-us", pitch=20)))
    high = await speak(bank.get(EspeakSpec(voice="en-us", pitch=80)))
    assert estimate_f0(high, 22050) > 1.2 * estimate_f0(low, 22050)
    fast = await speak(bank.get(EspeakSpec(voice="en-us", words_per_minute=300)))
    assert fast.size < 0.75 * low.size
    monotone = await speak(bank.get(EspeakSpec(voice="en-us", pitch=20, pitch_range=0)))
    assert monotone.tobytes() != low.tobytes()


async def test_espeak_speaks_markup_as_text(bank: VoiceBank) -> None:
    """The text is escaped into the SSML it travels in: tags in it are read or dropped, never obeyed."""
    voice = bank.get(EspeakSpec(voice="en-us"))
    audio = await speak(voice, 'Three < four & <break time="10s"/> five > two.')
    assert seconds(audio, voice) < 6.0


async def test_espeak_reports_an_unknown_voice(bank: VoiceBank) -> None:
    with pytest.raises(VoiceError, match="espeak-ng failed"):
        await speak(bank.get(EspeakSpec(voice="xx-nowhere")))


async def test_specs_on_one_model_share_it(bank: VoiceBank) -> None:
    first = bank.get(PiperSpec(model_path=MODEL, pitch_semitones=2.0))
    other_spelling = os.path.join(os.path.dirname(MODEL), ".", os.path.basename(MODEL))
    second = bank.get(PiperSpec(model_path=other_spelling, speed=1.2))
    assert isinstance(first, PiperEngineVoice)
    assert isinstance(second, PiperEngineVoice)
    assert first is not second
    await speak(first)
    await speak(second)
    assert first.model is second.model
    assert first.model.load() is second.model.load()


async def test_bank_keeps_one_voice_per_spec(bank: VoiceBank) -> None:
    spec = PiperSpec(model_path=MODEL, pitch_semitones=-2.0)
    assert bank.get(spec) is bank.get(PiperSpec(model_path=MODEL, pitch_semitones=-2.0))
    assert bank.get(spec) is not bank.get(PiperSpec(model_path=MODEL, pitch_semitones=-3.0))
    assert bank.get(EspeakSpec(voice="en-us")) is bank.get(EspeakSpec(voice="en-us"))


async def test_warm_loads_and_runs_every_voice() -> None:
    bank = VoiceBank()
    specs: list[PiperSpec | EspeakSpec | CoquiSpec] = [
        PiperSpec(model_path=MODEL),
        PiperSpec(model_path=MODEL, pitch_semitones=5.0),
        EspeakSpec(voice="en-us+f3"),
    ]
    piper = bank.get(specs[0])
    assert isinstance(piper, PiperEngineVoice)
    assert not piper.model.is_loaded
    try:
        await bank.warm(specs)
        assert piper.model.is_loaded
        assert {voice.name for voice in bank.voices} == {"piper:en_US-joe-medium", "espeak-ng:en-us+f3"}
        assert len(bank.voices) == 3
    finally:
        await bank.close()
    with pytest.raises(RuntimeError, match="closed"):
        bank.get(specs[0])


async def test_a_paragraph_streams_sentence_by_sentence(bank: VoiceBank) -> None:
    voice = bank.get(PiperSpec(model_path=MODEL, pitch_semitones=2.0, formant_shift=1.05))
    start = time.perf_counter()
    arrivals = [time.perf_counter() - start async for _ in voice.synthesize(PARAGRAPH)]
    assert len(arrivals) >= 4
    # Four sentences of similar length: the first is ready long before the last.
    assert arrivals[0] < 0.5 * arrivals[-1]


async def test_closing_early_drops_the_rest(bank: VoiceBank) -> None:
    """A barge-in closes the stream after the first sentence; the voice is then free for the next reply."""
    voice = bank.get(STEADY)
    stream = voice.synthesize(PARAGRAPH)
    first = await anext(stream)
    await stream.aclose()
    assert first.size > 0
    # Nothing of the stream plays any more: the speaker's next clause is due at once.
    assert speech_clock().play_end <= time.perf_counter()
    assert (await speak(voice)).size > 0


async def test_the_event_loop_stays_responsive_while_voices_speak(bank: VoiceBank) -> None:
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last)
            last = now

    voices = [
        bank.get(PiperSpec(model_path=MODEL, pitch_semitones=4.0, formant_shift=1.1)),
        bank.get(PiperSpec(model_path=MODEL, speed=0.8, pitch_semitones=-4.0, formant_shift=0.88)),
        bank.get(EspeakSpec(voice="en-us")),
    ]
    ticking = asyncio.create_task(ticker())
    try:
        await asyncio.gather(*(speak(voice, PARAGRAPH) for voice in voices))
    finally:
        done.set()
        await ticking
    assert len(gaps) > 10
    assert max(gaps) < 0.1


async def test_pool_runs_jobs_in_submission_order() -> None:
    pool = InferencePool(workers=1)
    order: list[int] = []
    try:
        await asyncio.gather(*(pool.submit(order.append, index) for index in range(20)))
    finally:
        pool.close()
    assert order == list(range(20))


async def queued(pool: InferencePool, jobs: int) -> None:
    """Until `jobs` jobs wait in the pool: the speaker tasks run their step up to their submission."""
    # The pool has no event for "queued"; each pass lets the other tasks run one step.
    while pool.waiting < jobs:  # noqa: ASYNC110
        await asyncio.sleep(0)


def plain_deadline_order(workers: int = 1) -> InferencePool:
    """Every job urgent at once, no background worker: the order alone decides."""
    return InferencePool(workers=workers, background_workers=0, horizon_s=math.inf)


async def test_pool_serves_a_first_clause_before_a_queued_later_clause() -> None:
    """A clause due when audio still playing ends waits behind one someone is waiting for now."""
    pool = plain_deadline_order()
    gate = threading.Event()
    order: list[str] = []
    try:
        busy = pool.submit(gate.wait)
        later = pool.submit_by(time.perf_counter() + 5.0, order.append, "a later clause")
        first = pool.submit(order.append, "a first clause")
        gate.set()
        await asyncio.gather(busy, later, first)
    finally:
        pool.close()
    assert order == ["a first clause", "a later clause"]


async def test_pool_drops_a_job_cancelled_while_queued() -> None:
    pool = InferencePool(workers=1)
    gate = threading.Event()
    ran: list[str] = []
    try:
        busy = pool.submit(gate.wait)
        dropped = pool.submit(ran.append, "dropped")
        kept = pool.submit(ran.append, "kept")
        dropped.cancel()
        await asyncio.sleep(0)  # an asyncio future's cancel reaches its thread's side one loop pass later
        gate.set()
        await asyncio.gather(busy, kept)
    finally:
        pool.close()
    assert ran == ["kept"]
    assert pool.dropped == 1


async def test_workers_keep_free_for_clauses_due_now() -> None:
    """A clause not due for seconds is never started by a worker, so a first clause finds it free."""
    pool = InferencePool(workers=1, background_workers=0, horizon_s=1.0)
    try:
        later = pool.submit_by(time.perf_counter() + 60.0, str, "a later clause")
        assert await pool.submit(str, "a first clause") == "a first clause"
        assert not later.done()
        assert pool.waiting == 1
    finally:
        pool.close()


async def test_the_background_worker_renders_ahead_at_a_lower_priority() -> None:
    """With the worker busy, a clause not due yet is rendered by the background worker, niced on Linux."""
    pool = InferencePool(workers=1, background_workers=1, horizon_s=1.0, background_nice=7)
    gate = threading.Event()
    try:
        busy = pool.submit(gate.wait)
        niceness = await pool.submit_by(time.perf_counter() + 60.0, own_niceness)
        gate.set()
        await busy
    finally:
        gate.set()
        pool.close()
    if sys.platform == "linux":
        assert niceness == os.getpriority(os.PRIO_PROCESS, 0) + 7


def own_niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


async def test_a_worker_takes_over_a_background_job_that_became_urgent() -> None:
    """The background worker starved (here: stuck) past the job's horizon: a worker runs it again."""
    pool = InferencePool(workers=1, background_workers=1, horizon_s=0.5)
    stuck = threading.Event()
    runs: list[str] = []

    def render() -> str:
        runs.append(threading.current_thread().name)
        if len(runs) == 1:
            stuck.wait()  # the first run, in the background, never gets the CPU it needs
        return "audio"

    try:
        audio = await pool.submit_by(time.perf_counter() + 1.0, render)
    finally:
        stuck.set()
        pool.close()
    assert audio == "audio"
    assert runs == ["voice_bg0", "voice_0"]
    assert pool.rerun == 1


async def test_a_background_job_nobody_waits_for_is_not_run_again() -> None:
    """A barge-in abandoned the clause the background worker is stuck on: no worker takes it over."""
    pool = InferencePool(workers=1, background_workers=1, horizon_s=0.5)
    stuck = threading.Event()
    runs: list[str] = []

    def render(name: str) -> str:
        runs.append(name)
        if name == "abandoned":
            stuck.wait()
        return name

    try:
        start = time.perf_counter()
        abandoned = pool.submit_by(start + 1.0, render, "abandoned")
        while not runs:  # noqa: ASYNC110 - no event for "started in the background"; one loop pass a check
            await asyncio.sleep(0)
        abandoned.cancel()
        # Falls due after the abandoned one did: by then a worker would have taken that over.
        assert await pool.submit_by(start + 1.2, render, "next") == "next"
    finally:
        stuck.set()
        pool.close()
    assert runs == ["abandoned", "next"]
    assert pool.rerun == 0


async def test_another_reply_s_first_clause_goes_before_a_reply_s_next_clause() -> None:
    """Two speakers on one worker: the one whose audio is still playing waits for the one in silence."""
    pool = plain_deadline_order()
    bank = VoiceBank(pool=pool)
    voice = bank.get(STEADY)
    loop = asyncio.get_running_loop()
    holding, playing, next_clause = asyncio.Event(), asyncio.Event(), asyncio.Event()
    gate = threading.Event()
    first_audio: list[str] = []

    async def playing_reply() -> None:
        async for _ in voice.synthesize(PARAGRAPH):
            pass  # its first clause is handed over: seconds of audio to play
        playing.set()
        await next_clause.wait()
        async for _ in voice.synthesize(SENTENCE):
            first_audio.append("the playing reply's next clause")
            break

    async def new_reply() -> None:
        async for _ in voice.synthesize(SENTENCE):
            first_audio.append("the new reply's first clause")
            break

    def hold() -> None:
        loop.call_soon_threadsafe(holding.set)
        gate.wait()

    try:
        speaking = asyncio.create_task(playing_reply())
        await playing.wait()
        busy = pool.submit(hold)
        await holding.wait()
        next_clause.set()  # submitted first ...
        await queued(pool, 1)
        answering = asyncio.create_task(new_reply())  # ... and overtaken
        await queued(pool, 2)
        gate.set()
        await asyncio.gather(busy, speaking, answering)
    finally:
        gate.set()
        await bank.close()
        pool.close()
    assert first_audio == ["the new reply's first clause", "the playing reply's next clause"]


async def test_empty_text_gives_no_audio(bank: VoiceBank) -> None:
    for spec in (STEADY, EspeakSpec(voice="en-us")):
        assert [chunk async for chunk in bank.get(spec).synthesize("  \n ")] == []


def test_a_missing_piper_model_is_unavailable(bank: VoiceBank, tmp_path: Path) -> None:
    with pytest.raises(VoiceUnavailable, match="not installed"):
        bank.get(PiperSpec(model_path=str(tmp_path / "nobody.onnx")))


def test_coqui_without_a_model_is_unavailable(bank: VoiceBank, tmp_path: Path) -> None:
    with pytest.raises(VoiceUnavailable, match="no Coqui model"):
        bank.get(CoquiSpec(model_path=str(tmp_path / "missing")))


def test_coqui_without_the_package_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "model.pth").write_bytes(b"")
    (tmp_path / "config.json").write_text('{"audio": {"sample_rate": 22050}}')
    pool = InferencePool(workers=1)
    try:
        with pytest.raises(VoiceUnavailable, match="Coqui TTS is not installed"):
            CoquiEngineVoice(spec=CoquiSpec(model_path=str(tmp_path)), pool=pool)
    finally:
        pool.close()
