"""The reply stage (ReplyGenerator → ClauseSplitting → PersonaVoice) through pipecat's own `run_test`."""

from __future__ import annotations

import logging

import pytest
from pipecat.frames.frames import ErrorFrame
from pipecat.tests.utils import run_test

from pipeline.graph.conversation import Conversation
from pipeline.graph.frames import ClauseFrame, ReplyEndFrame, ReplyTextFrame, SpeechAudioFrame, UserTextFrame
from pipeline.graph.output import DeviceOutput, Playback
from pipeline.graph.persona import PersonaBinding, PersonaSlot
from pipeline.graph.reply import APOLOGY, ClauseSplitting, ReplyGenerator
from pipeline.graph.speak import PersonaVoice
from pipeline.graph.timeline import TurnTimeline
from pipeline.llm import ChatMessage
from tests.pipeline.fakes import FakeResponder, FakeVoice, RecordingListener, llm_failure
from tests.pipeline.harness import running

HISTORY = [
    ChatMessage(role="user", content="Hi there."),
    ChatMessage(role="assistant", content="Hello, sailor!"),
]
USER = "Tell me about the sea."
SECRET = "sea"
"""A word of the user's turn and the reply: no log line may carry it."""


def slot(responder: FakeResponder, voice: FakeVoice | None = None) -> PersonaSlot:
    return PersonaSlot(PersonaBinding(persona_id="captain", responder=responder, voice=voice or FakeVoice()))


async def test_the_responder_gets_exactly_the_conversation_and_the_users_turn() -> None:
    responder = FakeResponder([["The sea ", "is wide. ", "It is deep."]])
    conversation = Conversation(HISTORY)
    generator = ReplyGenerator(persona=slot(responder), conversation=conversation)

    down, _ = await run_test(
        generator,
        frames_to_send=[UserTextFrame(text=USER, timeline=TurnTimeline(turn_id=1))],
        expected_down_frames=[ReplyTextFrame, ReplyTextFrame, ReplyTextFrame, ReplyEndFrame],
    )

    assert responder.received == [[*HISTORY, ChatMessage(role="user", content=USER)]]
    assert [f.text for f in down] == ["The sea ", "is wide. ", "It is deep.", "The sea is wide. It is deep."]
    # The turn enters the conversation when it is over (at the output), not when the reply starts.
    assert conversation.messages() == HISTORY


async def test_an_llm_failure_before_any_word_becomes_the_spoken_apology(
    caplog: pytest.LogCaptureFixture,
) -> None:
    responder = FakeResponder([["The sea ", "is wide."]], fail_with=llm_failure(), fail_after_tokens=0)
    generator = ReplyGenerator(persona=slot(responder), conversation=Conversation(HISTORY))

    with caplog.at_level(logging.WARNING, logger="pipeline.graph"):
        down, _ = await run_test(
            generator,
            frames_to_send=[UserTextFrame(text=USER, timeline=TurnTimeline(turn_id=1))],
            expected_down_frames=[ReplyTextFrame, ReplyEndFrame],
        )

    assert [f.text for f in down] == [APOLOGY, APOLOGY]
    assert "LLM failed" in caplog.text
    assert SECRET not in caplog.text.lower()


async def test_an_llm_failure_mid_reply_ends_the_reply_with_what_was_streamed() -> None:
    responder = FakeResponder(
        [["The sea ", "is wide. ", "It is deep."]], fail_with=llm_failure(), fail_after_tokens=2
    )
    generator = ReplyGenerator(persona=slot(responder), conversation=Conversation())

    down, _ = await run_test(
        generator,
        frames_to_send=[UserTextFrame(text=USER, timeline=TurnTimeline(turn_id=1))],
        expected_down_frames=[ReplyTextFrame, ReplyTextFrame, ReplyEndFrame],
    )

    assert down[-1].text == "The sea is wide. "


async def test_after_an_llm_failure_the_conversation_holds_the_apology_and_the_next_turn_sees_it() -> None:
    responder = FakeResponder([[], ["Calm today. ", "Waves tomorrow."]], fail_with=llm_failure())
    persona = slot(responder)
    conversation = Conversation(HISTORY)
    listener = RecordingListener()
    stages = [
        ReplyGenerator(persona=persona, conversation=conversation),
        ClauseSplitting(),
        PersonaVoice(persona=persona),
        DeviceOutput(listener=listener, conversation=conversation, playback=Playback()),
    ]
    async with running(stages) as graph:
        await graph.queue(UserTextFrame(text=USER, timeline=TurnTimeline(turn_id=1)))
        await listener.wait_until(lambda: len(listener.turns) == 1)
        responder.fail_with = None
        await graph.queue(UserTextFrame(text="And the weather?", timeline=TurnTimeline(turn_id=2)))
        await listener.wait_until(lambda: len(listener.turns) == 2)

    first_turn = [ChatMessage(role="user", content=USER), ChatMessage(role="assistant", content=APOLOGY)]
    assert responder.received[1] == [
        *HISTORY,
        *first_turn,
        ChatMessage(role="user", content="And the weather?"),
    ]
    assert conversation.messages() == [
        *HISTORY,
        *first_turn,
        ChatMessage(role="user", content="And the weather?"),
        ChatMessage(role="assistant", content="Calm today. Waves tomorrow."),
    ]
    assert listener.leds[-1] == "listening"


async def test_the_clauses_are_spoken_as_they_complete() -> None:
    voice = FakeVoice(chunks=2)
    timeline = TurnTimeline(turn_id=1)
    down, _ = await run_test(
        PersonaVoice(persona=slot(FakeResponder(), voice)),
        frames_to_send=[
            ClauseFrame(text="The sea is wide.", timeline=timeline),
            ClauseFrame(text="It is deep.", timeline=timeline, last=True),
        ],
        expected_down_frames=[SpeechAudioFrame] * 6,
    )
    assert voice.spoken == ["The sea is wide.", "It is deep."]
    assert [(bool(f.audio), f.clause_done, f.reply_done) for f in down] == [
        (True, False, False),
        (True, False, False),
        (False, True, False),
        (True, False, False),
        (True, False, False),
        (False, True, True),
    ]


async def test_a_voice_failing_on_one_clause_skips_it_and_speaks_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    voice = FakeVoice(chunks=2, fail_on="wide")
    timeline = TurnTimeline(turn_id=7)
    with caplog.at_level(logging.WARNING):
        down, up = await run_test(
            PersonaVoice(persona=slot(FakeResponder(), voice)),
            frames_to_send=[
                ClauseFrame(text="The sea is wide.", timeline=timeline),
                ClauseFrame(text="It is deep.", timeline=timeline, last=True),
            ],
            expected_down_frames=[SpeechAudioFrame] * 4,
        )
    assert voice.failures == 1
    # The failed clause closes with no audio and no words (nothing of it was heard); the rest is spoken.
    assert [(len(f.audio) > 0, f.clause, f.clause_done, f.reply_done) for f in down] == [
        (False, "", True, False),
        (True, "It is deep.", False, False),
        (True, "It is deep.", False, False),
        (False, "It is deep.", True, True),
    ]
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    assert "fake:voice" in caplog.text
    assert "turn 7" in caplog.text
    assert SECRET not in caplog.text.lower()
    assert "wide" not in caplog.text.lower()


async def test_a_clause_the_voice_fails_on_part_way_keeps_its_words_for_the_part_heard() -> None:
    voice = FakeVoice(chunks=3, fail_on="wide", fail_after_chunks=1)
    down, _ = await run_test(
        PersonaVoice(persona=slot(FakeResponder(), voice)),
        frames_to_send=[ClauseFrame(text="The sea is wide.", timeline=TurnTimeline(turn_id=1), last=True)],
        expected_down_frames=[SpeechAudioFrame] * 2,
    )
    assert voice.failures == 1
    assert [(len(f.audio) > 0, f.clause, f.clause_done, f.reply_done) for f in down] == [
        (True, "The sea is wide.", False, False),
        (False, "The sea is wide.", True, True),
    ]
