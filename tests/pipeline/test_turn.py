"""The shared Smart Turn v3 model: verdicts on real speech, the 8 s window, off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from pipeline.engines.turn import SharedSmartTurn, TurnPrediction
from tests.support.speech import SAMPLE_RATE, noise, silence, speak


@pytest.fixture(scope="module")
def smart_turn() -> Iterator[SharedSmartTurn]:
    engine = SharedSmartTurn()
    yield engine
    engine.close()


def turn(text: str) -> npt.NDArray[np.float32]:
    """`text` as the turn detector hands it over: a little pre-roll, the speech, 200 ms of silence."""
    return np.concatenate([silence(0.3), speak(text), silence(0.2)])


async def test_a_finished_sentence_scores_above_a_cut_off_one(smart_turn: SharedSmartTurn) -> None:
    finished = await smart_turn.predict(turn("Thank you very much."))
    cut_off = await smart_turn.predict(turn("I think I want to"))

    for prediction in (finished, cut_off):
        assert 0.0 <= prediction.probability <= 1.0
        assert prediction.complete == (prediction.probability > smart_turn.threshold)
        assert prediction.inference_ms > 0.0
    # The model is trained on people, not espeak: on many pairs its verdicts are unreliable
    # (see test_verdicts_on_the_tea_pair). This pair held with every espeak voice and pause tried.
    assert finished.probability > cut_off.probability + 0.3


async def test_verdicts_on_the_tea_pair(smart_turn: SharedSmartTurn) -> None:
    """Recorded, not asserted: with espeak en-us the model scores both low, the cut-off one lower."""
    finished = await smart_turn.predict(turn("I would like a cup of tea."))
    cut_off = await smart_turn.predict(turn("I would like a cup of"))
    print(f"\nfinished: {finished}\ncut off:  {cut_off}")
    assert all(0.0 <= p.probability <= 1.0 for p in (finished, cut_off))


async def test_only_the_last_8_seconds_count(smart_turn: SharedSmartTurn) -> None:
    recent = turn("Thank you very much.")
    long_turn = np.concatenate([noise(12.0, -20.0), silence(8.0 - recent.size / SAMPLE_RATE), recent])

    alone = await smart_turn.predict(np.concatenate([silence(8.0 - recent.size / SAMPLE_RATE), recent]))
    after_noise = await smart_turn.predict(long_turn)

    assert after_noise.probability == pytest.approx(alone.probability, abs=1e-6)


async def test_int16_audio_scores_like_float32(smart_turn: SharedSmartTurn) -> None:
    pcm = (turn("Thank you very much.") * 32767).astype(np.int16)
    as_int16 = await smart_turn.predict(pcm)
    as_float = await smart_turn.predict(pcm.astype(np.float32) / np.float32(32768))
    assert as_int16.probability == pytest.approx(as_float.probability, abs=1e-6)


async def test_empty_audio_is_refused(smart_turn: SharedSmartTurn) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        await smart_turn.predict(np.zeros(0, dtype=np.float32))


async def test_the_threshold_is_configurable_and_the_model_shared() -> None:
    always, never = SharedSmartTurn(threshold=0.0), SharedSmartTurn(threshold=1.0)
    try:
        audio = turn("Thank you very much.")
        assert (await always.predict(audio)).complete
        assert not (await never.predict(audio)).complete
        assert always._session is never._session  # one model session per process
    finally:
        always.close()
        never.close()
    with pytest.raises(ValueError, match="threshold"):
        SharedSmartTurn(threshold=1.5)


async def test_the_event_loop_stays_responsive_during_predict(smart_turn: SharedSmartTurn) -> None:
    await smart_turn.warm_up()
    ticks: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    started = time.perf_counter()
    predictions: list[TurnPrediction] = await asyncio.gather(
        *(smart_turn.predict(turn("Thank you very much.")) for _ in range(3))
    )
    ended = time.perf_counter()
    done.set()
    await ticker

    during = [t for t in ticks if started <= t <= ended]
    longest_gap = max(np.diff([started, *during, ended]))
    # A predict on the loop would stall it for a whole inference (tens of ms) per call.
    assert len(during) >= 10
    assert longest_gap < min(p.inference_ms for p in predictions) / 1000
