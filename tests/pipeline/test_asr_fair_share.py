"""The shared Whisper engine's fair share, with the real tiny.en model: a device sending recording
after recording does not hold the recogniser from another device's spoken turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from audio_fixtures import load_fixtures
from pipeline.engines.asr import WhisperRecognizer, default_whisper_model_dir
from server.voice.dialog_audio import PIECE_S, pieces

FIXTURES = load_fixtures()
RATE = 16_000


@pytest.fixture(scope="module")
def recognizer() -> Iterator[WhisperRecognizer]:
    # One turn per model call: the order below is the queue's choice alone, not batching's.
    engine = WhisperRecognizer(model_dir=default_whisper_model_dir(), max_batch=1)
    asyncio.run(engine.warm())
    yield engine
    engine.close()


def _recording() -> np.ndarray:
    """Speech a little under 30 s: the longest recording the REST dialog takes, as the flood sends it."""
    speech = np.concatenate([f.float32() for f in FIXTURES])
    return speech[: int(29 * RATE)]


async def test_a_spoken_turn_goes_before_a_flooding_devices_queued_pieces(
    recognizer: WhisperRecognizer,
) -> None:
    done: list[str] = []

    async def one(name: str, audio: np.ndarray, owner: str | None) -> None:
        await recognizer.transcribe_turn(audio, None, owner=owner)
        done.append(name)

    flood = pieces(_recording(), RATE)
    assert len(flood) >= 4
    assert all(len(p) <= PIECE_S * RATE for p in flood)
    tasks = [asyncio.create_task(one(f"flood-{n}", p, "dev_flood")) for n, p in enumerate(flood)]
    await asyncio.sleep(0)  # every piece is queued (as several recordings at once would be)
    turn = FIXTURES[0].float32()
    tasks.append(asyncio.create_task(one("spoken turn", turn, None)))
    await asyncio.gather(*tasks)
    # The turn waits for the piece running when it came, never for the rest of the flood.
    assert done.index("spoken turn") <= 1, done
    assert [d for d in done if d != "spoken turn"] == [f"flood-{n}" for n in range(len(flood))]
