"""A whole `VoiceSession` on fake engines: spoken turns end to end, and what a failing engine leaves."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import numpy as np
import numpy.typing as npt
import pytest

from pipeline.graph.listen import TAIL_SAMPLES, TurnParams
from pipeline.graph.pauses import Pause, PauseProfile
from pipeline.graph.persona import PersonaBinding
from pipeline.graph.session import Engines, VoiceSession
from pipeline.llm import ChatMessage
from tests.pipeline.fakes import (
    SAMPLE_RATE,
    FakeRecognizer,
    FakeResponder,
    FakeTurnModel,
    FakeVAD,
    FakeVoice,
    RecordingListener,
    asr_failure,
    silence,
    speech,
)

QUESTION = "What lives in the deep sea?"
REPLY = ["Fish live ", "in the deep sea. ", "Some glow blue in the dark, ", "and some have no eyes."]
CHUNK = round(0.02 * SAMPLE_RATE)
PRIVATE = ("sea", "fish", "glow", "eyes", "deep")
"""Words of the user's turn and of the reply: no log line may carry them."""


class Device:
    def __init__(
        self,
        *,
        recognizer: FakeRecognizer | None = None,
        turn_model: FakeTurnModel | None = None,
        responder: FakeResponder | None = None,
        voice: FakeVoice | None = None,
    ) -> None:
        self.recognizer = recognizer or FakeRecognizer([QUESTION])
        self.turn_model = turn_model or FakeTurnModel([0.9])
        self.responder = responder or FakeResponder([REPLY])
        self.voice = voice or FakeVoice()
        self.listener = RecordingListener()
        self.session = VoiceSession(
            engines=Engines(vad=FakeVAD(), turn=self.turn_model, asr=self.recognizer),
            binding=PersonaBinding(persona_id="captain", responder=self.responder, voice=self.voice),
            listener=self.listener,
            turn_params=TurnParams(confident_silence_ms=0),
        )

    async def feed(self, audio: npt.NDArray[np.int16]) -> None:
        for start in range(0, len(audio), CHUNK):
            await self.session.push_audio(audio[start : start + CHUNK], SAMPLE_RATE)

    async def say(self) -> None:
        """An utterance, then the first 20 ms of the pause after it."""
        await self.feed(speech(0.4))
        await self.feed(silence(0.02))

    async def wait_for_turns(self, count: int) -> None:
        """Until `count` turns are over and the LED shows listening again."""
        await self.listener.wait_until(
            lambda: len(self.listener.turns) >= count and self.listener.leds[-1] == "listening"
        )


@pytest.fixture
async def device() -> AsyncIterator[Device]:
    device = Device()
    await device.session.start()
    yield device
    await device.session.stop()


async def started(device: Device) -> Device:
    await device.session.start()
    return device


async def test_a_spoken_turn_is_answered_in_the_personas_voice(device: Device) -> None:
    await device.say()
    await device.wait_for_turns(1)

    assert device.responder.received == [[ChatMessage(role="user", content=QUESTION)]]
    assert [text for text, _ in device.listener.transcripts] == [QUESTION]
    assert device.voice.spoken == [
        "Fish live in the deep sea.",
        "Some glow blue in the dark,",
        "and some have no eyes.",
    ]
    (turn,) = device.listener.turns
    assert (turn.user_text, turn.spoken_text, turn.interrupted) == (QUESTION, "".join(REPLY).strip(), False)
    assert device.session.conversation.messages() == [
        ChatMessage(role="user", content=QUESTION),
        ChatMessage(role="assistant", content="".join(REPLY).strip()),
    ]
    assert "speaking" in device.listener.leds


async def test_a_voice_failing_on_a_clause_skips_it_speaks_the_rest_and_listens_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    device = await started(Device(voice=FakeVoice(fail_on="glow")))
    try:
        with caplog.at_level(logging.DEBUG, logger="pipeline"):
            await device.say()
            await device.wait_for_turns(1)
    finally:
        await device.session.stop()

    assert device.voice.failures == 1
    assert device.voice.spoken == [
        "Fish live in the deep sea.",
        "Some glow blue in the dark,",
        "and some have no eyes.",
    ]
    (turn,) = device.listener.turns
    assert turn.spoken_text == "Fish live in the deep sea. and some have no eyes."
    assert device.session.conversation.messages()[-1].content == turn.spoken_text
    assert device.listener.leds[-1] == "listening"
    assert "failed on a clause of turn 1" in caplog.text
    assert not any(word in caplog.text.lower() for word in PRIVATE)


@pytest.mark.parametrize("when", ["before the turn is judged over", "after the turn is judged over"])
async def test_an_asr_failure_drops_the_turn_and_the_next_turn_is_answered(
    when: str, caplog: pytest.LogCaptureFixture
) -> None:
    hold = asyncio.Event()
    before = when.startswith("before")
    recognizer = FakeRecognizer(
        ["Tell me about fish.", QUESTION], fail_with=asr_failure(), hold=None if before else hold
    )
    turn_model = FakeTurnModel([0.9], hold=hold if before else None)
    device = await started(Device(recognizer=recognizer, turn_model=turn_model))
    try:
        with caplog.at_level(logging.DEBUG, logger="pipeline"):
            await device.say()
            if before:
                await asyncio.wait_for(recognizer.done.wait(), 5.0)
                hold.set()  # now the turn is judged over: nothing was heard
                await device.listener.wait_until(lambda: len(device.listener.leds) == 2)
            else:
                await device.listener.wait_until(lambda: device.listener.leds == ["listening", "thinking"])
                hold.set()  # now the recogniser fails on the committed turn
                await device.listener.wait_until(lambda: len(device.listener.leds) == 3)
            assert device.listener.leds[-1] == "listening"
            assert recognizer.failures == 1
            assert device.responder.received == []

            recognizer.fail_with = None
            await device.feed(silence(TurnParams().continuation_ms / 1000 + 0.1))
            await device.say()
            await device.wait_for_turns(1)
    finally:
        await device.session.stop()

    assert device.responder.received == [[ChatMessage(role="user", content=QUESTION)]]
    assert [turn.user_text for turn in device.listener.turns] == [QUESTION]
    assert "asr failed on turn 1" in caplog.text
    assert not any(word in caplog.text.lower() for word in PRIVATE)


async def test_holding_a_conversation_holds_what_was_learned_of_its_speaker_or_nothing() -> None:
    """`hold` with a profile: the tracker goes on from it; without one, it starts afresh."""
    device = await started(Device())
    learning = PersonaBinding(
        persona_id="rose", responder=device.responder, voice=device.voice, adaptation_mode="learning"
    )
    known = PauseProfile(
        recent=(Pause(seconds=0.25, confident=False),),
        finished=(Pause(seconds=0.2, confident=True),),
        turns=3,
    )

    async def say_with_a_pause() -> None:
        await device.feed(speech(0.4))
        await device.feed(silence(0.1))  # the speaker goes on before the turn is judged over
        await device.say()

    try:
        device.session.hold(learning, [], known)
        assert device.session.pause_profile == known
        await say_with_a_pause()
        await device.wait_for_turns(1)
        went_on = device.session.pause_profile

        device.session.hold(learning, [])
        assert device.session.pause_profile == PauseProfile()
        await device.feed(silence(TurnParams().continuation_ms / 1000 + 0.1))
        await say_with_a_pause()
        await device.wait_for_turns(2)
        afresh = device.session.pause_profile
    finally:
        await device.session.stop()

    assert (went_on.finished, went_on.turns) == (known.finished, 4)
    assert [p.seconds for p in went_on.recent] == [0.25, 0.1]
    assert (afresh.turns, [p.seconds for p in afresh.recent]) == (1, [0.1])
    assert device.session.binding is learning


# --- a long turn, transcribed a piece at a time ---------------------------------------------------------

STORY = ["My grandson came to see me on Sunday.", "He brought apples.", "Thank you."]


async def _eventually(predicate: Callable[[], bool]) -> None:
    """Wait for `predicate` (the timeout only keeps a broken graph from hanging the run)."""
    async with asyncio.timeout(5.0):
        while not predicate():  # noqa: ASYNC110 - the fakes signal nothing a test could wait on
            await asyncio.sleep(0.005)


async def _started_a_story(recognizer: FakeRecognizer) -> Device:
    """4.5 s of speech, then a pause the turn model is unsure about (the second judgement is sure)."""
    device = await started(Device(recognizer=recognizer, turn_model=FakeTurnModel([0.1, 0.9])))
    await device.feed(speech(4.5))
    await device.feed(silence(0.02))
    return device


async def test_a_long_turn_is_transcribed_a_piece_at_a_time_and_answered_as_one() -> None:
    recognizer = FakeRecognizer(STORY)
    device = await _started_a_story(recognizer)
    try:
        await _eventually(lambda: len(recognizer.calls) == 1 and recognizer.done.is_set())
        await device.feed(speech(1.0))  # the speaker goes on
        await device.feed(silence(0.02))
        await device.wait_for_turns(1)
        await device.say()  # another turn: its own audio, from its start
        await device.wait_for_turns(2)
    finally:
        await device.session.stop()

    first, rest, other = recognizer.calls
    # The second transcription read only what came after the pause (1 s of speech, the pause's start
    # and the silence appended), not the 4.5 s before it again.
    assert rest < round(1.5 * SAMPLE_RATE) + TAIL_SAMPLES < first
    assert [text for text, _ in device.listener.transcripts] == [f"{STORY[0]} {STORY[1]}", STORY[2]]
    assert device.session.conversation.messages()[0] == ChatMessage(
        role="user", content=f"{STORY[0]} {STORY[1]}"
    )
    # Nothing of the story's transcript carries into the next turn, which is transcribed whole.
    assert other > round(0.4 * SAMPLE_RATE)


async def test_a_piece_is_transcribed_to_the_end_even_when_the_speaker_goes_on_first() -> None:
    hold = asyncio.Event()
    recognizer = FakeRecognizer(STORY, hold=hold)
    device = await _started_a_story(recognizer)
    try:
        await _eventually(lambda: len(recognizer.calls) == 1)
        await device.feed(speech(1.0))  # goes on while the first 4.5 s are still being transcribed
        await asyncio.sleep(0.2)  # the interruption reaches the transcriber (nothing to wait on)
        assert not recognizer.done.is_set()  # still transcribing: not cancelled with the speculation
        hold.set()
        await _eventually(recognizer.done.is_set)
        await device.feed(silence(0.02))
        await device.wait_for_turns(1)
    finally:
        await device.session.stop()

    first, rest = recognizer.calls
    assert rest < round(1.5 * SAMPLE_RATE) + TAIL_SAMPLES < first
    assert [text for text, _ in device.listener.transcripts] == [f"{STORY[0]} {STORY[1]}"]
