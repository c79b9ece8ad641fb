"""Barge-in: the user speaks over a long reply; the bot stops and remembers only what it actually said.

The server here keeps its state in a real Redis, so the session's context, as
the store holds it, can be read back: the REST session view only counts its
messages.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio

from audio_fixtures import load_fixtures
from pipeline.llm import ChatMessage
from server.state.redis import RedisStore
from tests.server.helpers import poll, scripted_reply
from tests.support.live_server import LiveServer
from tests.support.wer import normalise
from tests.voice.conftest import (
    Microphone,
    Received,
    Turn,
    VoiceDevice,
    converse,
    of_type,
    operator_http,
    voice_server_with,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIXTURES = {fixture.name: fixture for fixture in load_fixtures()}
STORYTELLER = "storyteller"
ONSET_LEVEL = 300
"""int16 amplitude that counts as the start of speech in a fixture (its lead-in is digital silence)."""


@pytest.fixture(scope="module")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[LiveServer, str]]:
    """A voice server of its own that keeps its state in Redis; yields it and its key prefix."""
    prefix = f"bargein-{secrets.token_hex(4)}:"
    state_dir: Path = tmp_path_factory.mktemp("bargein")
    with voice_server_with(state_dir, redis_url=redis_url, redis_key_prefix=prefix) as server:
        yield server, prefix


def onset_s(pcm: np.ndarray, rate: int) -> float:
    return float(np.argmax(np.abs(pcm) > ONSET_LEVEL)) / rate


@dataclass
class BargeIn:
    story: Turn
    """The storyteller's long reply, until the user spoke over it."""
    full_story: str
    stop_playback: Received
    speech_onset: float
    """perf_counter when the user's barge-in speech began (its first loud sample went out)."""
    answer: Turn
    """The reply to what the user said over the story."""
    context: list[ChatMessage]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def barge_in(redis_server: tuple[LiveServer, str], redis_url: str) -> AsyncIterator[BargeIn]:
    server, prefix = redis_server
    device = await VoiceDevice.register(server)
    session_id = device.messages[0].payload["active_session_id"]
    async with operator_http(server) as http, Microphone(device) as microphone:
        since = device.mark()
        response = await http.post(
            f"/devices/{device.device_id}/persona/switch", json={"target_persona_id": STORYTELLER}
        )
        assert response.status_code == 200, response.text
        await device.wait_for(of_type("persona_switch"), since=since)

        since = device.mark()
        asked = await microphone.say(FIXTURES["story_sea"].pcm)
        transcript = await device.wait_for(of_type("transcript"), since=since)
        # The second clause under way: the first has been sent whole (in pieces, as it plays), and
        # most of the story is still to come.
        chunk = of_type("audio_response", final=False, turn_id=transcript.payload["turn_id"])
        await device.wait_for(
            lambda m: chunk(m) and len({c.payload["text"] for c in device.received(chunk, since=since)}) >= 2,
            since=since,
        )

        barge = FIXTURES["thank_you"]
        answer = await converse(device, microphone, barge.pcm)
        speech_onset = answer.utterance.started + onset_s(barge.pcm, barge.sample_rate)
        stop = await device.wait_for(of_type("stop_playback"), since=since)
        story = Turn(
            asked,
            device.received(lambda m: m.payload.get("turn_id") == transcript.payload["turn_id"], since=since),
        )
        keyword = "sea" if "sea" in normalise(transcript.payload["text"]) else "story"
        full_story = await scripted_reply(http, STORYTELLER, keyword)

    store = RedisStore.from_url(redis_url, key_prefix=prefix)
    try:
        context = await poll(lambda: store.get_context(session_id), lambda messages: len(messages) >= 4)
    finally:
        await store.close()
    yield BargeIn(
        story=story,
        full_story=full_story,
        stop_playback=stop,
        speech_onset=speech_onset,
        answer=answer,
        context=context,
    )
    await device.close()


async def test_device_is_told_to_stop_playback_at_once(barge_in: BargeIn) -> None:
    delay_s = barge_in.stop_playback.at - barge_in.speech_onset
    print(f"\nstop_playback {delay_s * 1000:.0f} ms after the user's speech began")
    assert barge_in.stop_playback.payload["reason"] == "barge_in"
    # At the start of the user's speech, not at the end of their turn (which the transcript follows).
    assert delay_s > 0
    assert barge_in.stop_playback.index < barge_in.answer.transcripts[0].index


async def test_no_more_story_audio_after_stop_playback(barge_in: BargeIn) -> None:
    chunks = barge_in.story.chunks
    assert len(chunks) >= 2
    late = chunks[-1].at - barge_in.stop_playback.at
    print(f"\nlast story chunk {late * 1000:.0f} ms after stop_playback")
    # stop_playback jumps the device's outbox, so chunks already queued may follow it, but no new one:
    # the story's audio has all arrived before the turn spoken over it is even transcribed.
    assert chunks[-1].index < barge_in.answer.transcripts[0].index
    assert not barge_in.story.finals, "an interrupted reply is not reported as finished"


async def test_what_was_said_over_the_story_is_answered_once(barge_in: BargeIn) -> None:
    answer = barge_in.answer
    assert len(answer.transcripts) == 1
    assert "thank" in normalise(answer.transcripts[0].payload["text"])
    assert len(answer.finals) == 1
    assert answer.final.payload["persona_id"] == STORYTELLER
    story_id = barge_in.story.chunks[0].payload["turn_id"]
    # Pieces of the story may still go out while the barge-in is being confirmed, never after the stop.
    replying = [m for m in answer.chunks if m.payload["turn_id"] != story_id]
    assert replying
    assert all(m.index > barge_in.stop_playback.index for m in replying)
    assert all(m.index < barge_in.stop_playback.index for m in answer.chunks if m not in replying)


async def test_context_records_only_the_spoken_part_of_the_story(barge_in: BargeIn) -> None:
    roles = [m.role for m in barge_in.context]
    assert roles[-4:] == ["user", "assistant", "user", "assistant"], barge_in.context
    asked, spoken, thanked, answered = barge_in.context[-4:]
    assert "story" in normalise(asked.content)
    assert "thank" in normalise(thanked.content)
    assert answered.content == barge_in.answer.final.payload["text"]

    full_words = barge_in.full_story.split()
    spoken_words = spoken.content.split()
    first_clause = barge_in.story.chunks[0].payload["text"].split()
    print(f"\nspoken {len(spoken_words)} of the story's {len(full_words)} words")
    assert spoken_words == full_words[: len(spoken_words)], "what was said is the start of the story"
    assert len(first_clause) <= len(spoken_words) < len(full_words)
