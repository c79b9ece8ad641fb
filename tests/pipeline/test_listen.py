"""The listening stage (`TurnTracker`) with a fake VAD and a fake turn model: what it sends into the graph."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest
from pipecat.frames.frames import Frame, InterruptionFrame, UserStartedSpeakingFrame, UserStoppedSpeakingFrame

from pipeline.graph.frames import CommitTurnFrame, UserTurnFrame
from pipeline.graph.listen import PRE_ROLL_S, TAIL_SAMPLES, TurnParams, TurnTracker
from pipeline.graph.output import Playback
from pipeline.graph.pauses import AdaptationMode, Pause, PauseProfile
from tests.pipeline.fakes import SAMPLE_RATE, FakeTurnModel, FakeVAD, RecordingListener, silence, speech

CHUNK_S = 0.02
T = TypeVar("T")


class Emitted:
    """The frames the tracker emits into the graph, in order."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._changed = asyncio.Condition()

    async def __call__(self, frame: Frame) -> None:
        async with self._changed:
            self.frames.append(frame)
            self._changed.notify_all()

    def of(self, kind: type[T]) -> list[T]:
        return [f for f in self.frames if isinstance(f, kind)]

    def kinds(self) -> list[type[Frame]]:
        return [type(f) for f in self.frames]

    async def wait_for(self, kind: type[Frame], count: int = 1) -> None:
        async with asyncio.timeout(5.0), self._changed:
            await self._changed.wait_for(lambda: len(self.of(kind)) >= count)


class Setup:
    def __init__(
        self,
        *,
        turn_model: FakeTurnModel,
        playback: Playback | None = None,
        params: TurnParams | None = None,
        adaptation_mode: AdaptationMode = "static",
        pause_profile: PauseProfile | None = None,
    ) -> None:
        self.vad = FakeVAD()
        self.turn_model = turn_model
        self.listener = RecordingListener()
        self.emitted = Emitted()
        self.tracker = TurnTracker(
            vad=self.vad,
            turn_model=turn_model,
            listener=self.listener,
            playback=playback or Playback(),
            emit=self.emitted,
            params=params or TurnParams(confident_silence_ms=0),
            adaptation_mode=adaptation_mode,
            pause_profile=pause_profile,
        )

    async def feed(self, audio: npt.NDArray[np.int16]) -> None:
        """Feed `audio` in 20 ms chunks, as a device sends it."""
        step = round(CHUNK_S * SAMPLE_RATE)
        for start in range(0, len(audio), step):
            await self.tracker.feed(audio[start : start + step], SAMPLE_RATE)


def samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


async def test_a_pause_sends_the_turn_on_speculatively_and_the_judged_end_commits_it() -> None:
    hold = asyncio.Event()
    s = Setup(turn_model=FakeTurnModel([0.9], hold=hold))
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))

    (turn,) = s.emitted.of(UserTurnFrame)
    assert not turn.timeline.committed
    assert len(turn.audio) == samples(0.4 + CHUNK_S) + TAIL_SAMPLES
    await asyncio.wait_for(s.turn_model.predicting.wait(), 5.0)
    assert s.emitted.of(CommitTurnFrame) == []  # prepared, not yet released
    assert s.listener.leds == ["listening"]

    hold.set()
    await s.emitted.wait_for(CommitTurnFrame)
    (commit,) = s.emitted.of(CommitTurnFrame)
    assert commit.timeline is turn.timeline
    assert commit.timeline.committed
    assert commit.timeline.end_rule == "smart_turn"
    assert s.emitted.kinds() == [
        UserStartedSpeakingFrame,
        UserTurnFrame,
        UserStoppedSpeakingFrame,
        CommitTurnFrame,
    ]
    assert s.listener.leds == ["listening", "thinking"]


async def test_speech_resuming_before_the_turn_is_judged_cancels_the_speculation() -> None:
    hold = asyncio.Event()
    s = Setup(turn_model=FakeTurnModel([0.9], hold=hold))
    await s.feed(speech(0.4))
    await s.feed(silence(0.1))
    await asyncio.wait_for(s.turn_model.predicting.wait(), 5.0)
    await s.feed(speech(0.3))
    await s.feed(silence(CHUNK_S))
    hold.set()
    await s.emitted.wait_for(CommitTurnFrame)

    first, second = s.emitted.of(UserTurnFrame)
    (commit,) = s.emitted.of(CommitTurnFrame)
    assert commit.timeline is second.timeline  # one answer: the whole utterance's
    assert not first.timeline.committed
    assert len(second.audio) == samples(0.4 + 0.1 + 0.3 + CHUNK_S) + TAIL_SAMPLES
    assert s.emitted.kinds() == [
        UserStartedSpeakingFrame,
        UserTurnFrame,
        InterruptionFrame,  # stops the speculative reply, which the output drops without a word
        UserTurnFrame,
        UserStoppedSpeakingFrame,
        CommitTurnFrame,
    ]
    assert s.listener.leds == ["listening", "thinking"]


async def test_speech_soon_after_a_commit_takes_the_turn_back_and_continues_it() -> None:
    s = Setup(turn_model=FakeTurnModel([0.9]))
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame)
    (first,) = s.emitted.of(UserTurnFrame)

    await s.feed(silence(0.1))
    await s.feed(speech(0.3))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame, 2)

    second = s.emitted.of(UserTurnFrame)[1]
    assert first.timeline.retracted
    assert second.timeline.continues == first.timeline.turn_id
    assert not second.timeline.retracted
    # The continued turn's audio is the whole utterance: the retracted turn's, then the new speech.
    assert len(second.audio) >= samples(0.4 + CHUNK_S + 0.3) + TAIL_SAMPLES
    assert s.emitted.kinds()[4:7] == [InterruptionFrame, UserStartedSpeakingFrame, UserTurnFrame]
    assert [c.timeline for c in s.emitted.of(CommitTurnFrame)] == [first.timeline, second.timeline]


async def test_speech_after_the_continuation_window_is_a_new_turn() -> None:
    s = Setup(turn_model=FakeTurnModel([0.9]))
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame)
    await s.feed(silence(TurnParams().continuation_ms / 1000 + 0.1))
    await s.feed(speech(0.3))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame, 2)

    first, second = s.emitted.of(UserTurnFrame)
    assert not first.timeline.retracted
    assert second.timeline.continues is None
    assert InterruptionFrame not in s.emitted.kinds()
    # The turn starts with the pre-roll (the first speech chunk its last 20 ms), not the earlier turn.
    assert len(second.audio) == samples(PRE_ROLL_S + (0.3 - CHUNK_S) + CHUNK_S) + TAIL_SAMPLES


async def test_push_to_talk_bounds_the_turn_whatever_the_vad_hears() -> None:
    s = Setup(turn_model=FakeTurnModel([0.1]))
    await s.tracker.set_push_to_talk(True)
    await s.feed(speech(0.3))
    await s.feed(silence(0.3))  # a pause while the button is held does not end the turn
    await s.feed(speech(0.2))
    assert s.emitted.of(UserTurnFrame) == []
    await s.tracker.set_push_to_talk(False)

    (turn,) = s.emitted.of(UserTurnFrame)
    (commit,) = s.emitted.of(CommitTurnFrame)
    assert commit.timeline is turn.timeline
    assert commit.timeline.end_rule == "push_to_talk"
    assert len(turn.audio) == samples(0.3 + 0.3 + 0.2) + TAIL_SAMPLES
    assert s.vad.streams[0].feeds == 0
    assert s.turn_model.calls == []
    assert s.emitted.kinds() == [
        UserStartedSpeakingFrame,
        UserTurnFrame,
        UserStoppedSpeakingFrame,
        CommitTurnFrame,
    ]
    assert s.listener.leds == ["listening", "thinking"]


@pytest.mark.parametrize("bot_speaking", [True, False])
async def test_speech_while_the_bot_speaks_is_a_barge_in(bot_speaking: bool) -> None:
    s = Setup(turn_model=FakeTurnModel([0.9]), playback=Playback(replying=bot_speaking))
    await s.feed(silence(0.1))
    await s.feed(speech(0.1))

    expected: list[type[Frame]] = [InterruptionFrame] if bot_speaking else []
    assert s.emitted.kinds() == [*expected, UserStartedSpeakingFrame]
    assert s.listener.leds == ["listening"]


async def test_the_pauses_inside_a_turn_are_learned_with_whether_the_turn_sounded_finished() -> None:
    s = Setup(turn_model=FakeTurnModel([0.9, 0.1]), params=TurnParams(), adaptation_mode="adaptive")
    await s.feed(speech(0.4))
    await s.feed(silence(0.5))
    await asyncio.wait_for(s.turn_model.predicting.wait(), 5.0)
    for _ in range(5):  # the judge runs on as soon as the (instant) prediction is back
        await asyncio.sleep(0)
    await s.feed(speech(0.3))
    await s.feed(silence(0.2))  # judged incomplete (0.1) before the speech goes on
    for _ in range(5):
        await asyncio.sleep(0)
    await s.feed(speech(0.3))

    assert s.tracker.pauses.profile.recent == (
        Pause(seconds=0.5, confident=True),
        Pause(seconds=0.2, confident=False),
    )
    assert s.emitted.of(CommitTurnFrame) == []  # a first turn with a 0.6 s wait: nothing ended yet


async def test_a_turn_taken_back_teaches_the_pause_it_was_judged_over_at() -> None:
    s = Setup(turn_model=FakeTurnModel([0.9]), adaptation_mode="adaptive")
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame)
    # After answering, the first window of the speaker's voice is to cut the reply.
    assert s.vad.streams[0].expected == [TurnParams().continuation_ms / 1000]

    await s.feed(silence(0.3))
    await s.feed(speech(0.3))

    (first,) = s.emitted.of(UserTurnFrame)[:1]
    assert first.timeline.retracted
    assert s.tracker.pauses.profile.finished == (Pause(seconds=round(CHUNK_S + 0.3, 3), confident=True),)


async def test_a_speaker_known_to_pause_long_is_given_the_time_and_answered_after_it() -> None:
    long_pauses = PauseProfile(finished=(Pause(seconds=1.0, confident=True),), turns=3)
    s = Setup(
        turn_model=FakeTurnModel([0.9]),
        params=TurnParams(),
        adaptation_mode="adaptive",
        pause_profile=long_pauses,
    )
    assert s.tracker.pauses.silence_s(confident=True) == pytest.approx(1.1)
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))
    await asyncio.sleep(0.5)  # longer than the 350 ms a static speaker waits
    assert s.emitted.of(CommitTurnFrame) == []
    await s.emitted.wait_for(CommitTurnFrame)
    assert s.emitted.of(CommitTurnFrame)[0].timeline.end_rule == "smart_turn"


async def test_after_another_speaker_is_held_speech_is_never_the_continuation_of_the_last_turn() -> None:
    s = Setup(turn_model=FakeTurnModel([0.9]))
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame)
    s.tracker.learn_afresh("adaptive")  # a handoff: the device now holds another resident's session

    await s.feed(silence(0.1))
    await s.feed(speech(0.3))
    await s.feed(silence(CHUNK_S))
    await s.emitted.wait_for(CommitTurnFrame, 2)

    first, second = s.emitted.of(UserTurnFrame)
    assert not first.timeline.retracted
    assert second.timeline.continues is None
    # Nothing of the earlier turn's audio: the pre-roll and the new speech only.
    assert len(second.audio) <= samples(PRE_ROLL_S + 0.3 + CHUNK_S) + TAIL_SAMPLES


async def _judged_with_transcript(transcript: str, params: TurnParams | None = None) -> Setup:
    """A turn paused on, its speculative transcript `transcript` ready before Smart Turn (unsure: 0.3)
    has answered; the fallback silence is nil, the silence after an unfinished transcript a minute."""
    hold = asyncio.Event()
    params = params or TurnParams(confident_silence_ms=0, fallback_silence_ms=0, unfinished_silence_ms=60_000)
    s = Setup(turn_model=FakeTurnModel([0.3], hold=hold), params=params)
    await s.feed(speech(0.4))
    await s.feed(silence(CHUNK_S))
    (turn,) = s.emitted.of(UserTurnFrame)
    turn.timeline.user_text = transcript
    turn.timeline.transcribed.set()
    await asyncio.wait_for(s.turn_model.predicting.wait(), 5.0)
    hold.set()
    for _ in range(10):  # the judge runs on as soon as the prediction is back
        await asyncio.sleep(0)
    return s


async def test_a_finished_sentence_smart_turn_is_unsure_of_ends_the_turn_after_the_fallback() -> None:
    s = await _judged_with_transcript("The person at extension 205 is unavailable.")
    await s.emitted.wait_for(CommitTurnFrame)
    assert s.emitted.of(CommitTurnFrame)[0].timeline.end_rule == "silence"


async def test_a_transcript_that_stops_mid_sentence_keeps_the_turn_open_through_a_long_pause() -> None:
    s = await _judged_with_transcript("The person at extension")
    assert s.emitted.of(CommitTurnFrame) == []  # not answered at the (nil) fallback silence

    await s.feed(silence(0.9))  # a slow speaker reading out a number
    await s.feed(speech(0.3))
    await s.feed(silence(CHUNK_S))
    first, second = s.emitted.of(UserTurnFrame)
    # The speaker went on within the same turn: no reply was released, nothing is taken back.
    assert not first.timeline.committed
    assert not first.timeline.retracted
    assert second.timeline.continues is None
    assert s.emitted.kinds()[:4] == [
        UserStartedSpeakingFrame,
        UserTurnFrame,
        InterruptionFrame,
        UserTurnFrame,
    ]
    # One answer, to the whole utterance (its transcript is not ready: ended by the nil fallback).
    await s.emitted.wait_for(CommitTurnFrame)
    assert [c.timeline for c in s.emitted.of(CommitTurnFrame)] == [second.timeline]


# Nil silences but the one after a transcript that stops on a word no sentence ends on: a minute.
DANGLING_ONLY = TurnParams(
    confident_silence_ms=0, fallback_silence_ms=0, unfinished_silence_ms=1, dangling_silence_ms=60_000
)


async def test_a_transcript_that_stops_on_a_word_no_sentence_ends_on_keeps_the_turn_open() -> None:
    s = await _judged_with_transcript("And then I went to the", DANGLING_ONLY)
    await s.feed(silence(0.9))  # searching for the word
    assert s.emitted.of(CommitTurnFrame) == []

    await s.feed(speech(0.3))
    await s.feed(silence(CHUNK_S))
    first, _ = s.emitted.of(UserTurnFrame)
    assert not first.timeline.committed  # the speaker went on in the same turn: no reply released
    assert not first.timeline.retracted


async def test_an_unfinished_transcript_that_could_end_there_is_not_held_by_the_dangling_silence() -> None:
    s = await _judged_with_transcript("The person at extension", DANGLING_ONLY)
    await s.emitted.wait_for(CommitTurnFrame)
    assert s.emitted.of(CommitTurnFrame)[0].timeline.end_rule == "silence"
