"""The output stage (`DeviceOutput`): held replies, barge-in, and the words the device actually played."""

from __future__ import annotations

from pipecat.frames.frames import InterruptionFrame

from pipeline.graph.conversation import Conversation
from pipeline.graph.frames import CommitTurnFrame, SpeechAudioFrame
from pipeline.graph.output import SLICE_S, DeviceOutput, Playback
from pipeline.graph.timeline import TurnTimeline
from pipeline.llm import ChatMessage
from tests.pipeline.fakes import SAMPLE_RATE, RecordingListener
from tests.pipeline.harness import running

USER = "Tell me about the sea."


def reply(timeline: TurnTimeline, clauses: list[tuple[str, int, float]]) -> list[SpeechAudioFrame]:
    """The frames `PersonaVoice` makes of `clauses` (text, chunks, seconds each); the last ends the reply."""
    frames: list[SpeechAudioFrame] = []
    for index, (text, chunks, chunk_s) in enumerate(clauses):
        audio = bytes(2 * round(chunk_s * SAMPLE_RATE))
        frames += [
            SpeechAudioFrame(audio=audio, sample_rate=SAMPLE_RATE, clause=text, timeline=timeline)
        ] * chunks
        frames.append(
            SpeechAudioFrame(
                audio=b"",
                sample_rate=SAMPLE_RATE,
                clause=text,
                timeline=timeline,
                clause_done=True,
                reply_done=index == len(clauses) - 1,
            )
        )
    return frames


class Stage:
    def __init__(self, *, lead_s: float = 0.3) -> None:
        self.listener = RecordingListener()
        self.conversation = Conversation()
        self.playback = Playback()
        self.output = DeviceOutput(
            listener=self.listener, conversation=self.conversation, playback=self.playback, lead_s=lead_s
        )


async def test_reply_audio_is_held_until_the_turn_is_committed() -> None:
    s = Stage()
    timeline = TurnTimeline(turn_id=1, committed=False, user_text=USER)
    async with running([s.output]) as graph:
        await graph.queue(*reply(timeline, [("The sea is very deep.", 2, 0.01)]))
        await graph.settle()
        assert s.listener.audio == []
        assert s.listener.leds == []
        assert not s.playback.bot_speaking

        timeline.committed = True
        await graph.queue(CommitTurnFrame(timeline=timeline))
        await s.listener.wait_until(lambda: s.listener.leds[-1:] == ["listening"])

    assert s.listener.audio == [(320, "The sea is very deep.")] * 2
    assert s.listener.leds == ["speaking", "listening"]
    (turn,) = s.listener.turns
    assert (turn.user_text, turn.spoken_text, turn.interrupted) == (USER, "The sea is very deep.", False)
    assert s.conversation.messages() == [
        ChatMessage(role="user", content=USER),
        ChatMessage(role="assistant", content="The sea is very deep."),
    ]
    assert timeline.answered


async def test_a_cancelled_speculation_is_dropped_without_a_word() -> None:
    s = Stage()
    timeline = TurnTimeline(turn_id=1, committed=False, user_text=USER)
    async with running([s.output]) as graph:
        await graph.queue(*reply(timeline, [("The sea is very deep.", 2, 0.01)]))
        await graph.settle()
        await graph.queue(InterruptionFrame())
        await graph.settle()
        timeline.committed = True  # even if the turn were committed now, its audio is gone
        await graph.queue(CommitTurnFrame(timeline=timeline))
        await graph.settle()

    assert s.listener.audio == []
    assert s.listener.stops == 0
    assert s.listener.turns == []
    assert s.conversation.messages() == []


async def test_a_barge_in_drops_queued_audio_and_keeps_only_the_words_played() -> None:
    # No lead: each chunk goes out only once the one before it has played, so when the second clause's
    # audio reaches the device the first has been heard in full; the second lasts 4 s and is cut at once.
    s = Stage(lead_s=0.0)
    timeline = TurnTimeline(turn_id=1, user_text=USER)
    clauses = [
        ("The sea is big.", 1, 0.02),
        ("It is blue and very deep.", 1, 4.0),
        ("Fish live in it.", 1, 4.0),
    ]
    async with running([s.output]) as graph:
        await graph.queue(*reply(timeline, clauses))
        await graph.settle()
        await s.listener.wait_until(lambda: len(s.listener.audio) == 2)
        assert s.playback.bot_speaking

        await graph.queue(InterruptionFrame())
        await s.listener.wait_until(lambda: bool(s.listener.turns))
        await graph.settle()

    assert s.listener.stops == 1
    assert [clause for _, clause in s.listener.audio] == ["The sea is big.", "It is blue and very deep."]
    assert not s.playback.bot_speaking
    (turn,) = s.listener.turns
    assert turn.interrupted
    assert turn.spoken_text.startswith("The sea is big.")
    assert "deep." not in turn.spoken_text
    assert "Fish" not in turn.spoken_text
    assert s.conversation.messages() == [
        ChatMessage(role="user", content=USER),
        ChatMessage(role="assistant", content=turn.spoken_text),
    ]


async def test_a_whole_sentence_from_the_voice_goes_out_in_pieces_so_a_cut_leaves_little_sent() -> None:
    s = Stage(lead_s=0.1)
    timeline = TurnTimeline(turn_id=1, committed=False, user_text=USER)
    async with running([s.output]) as graph:
        # A voice yields a sentence as one chunk: here 2 s of audio.
        await graph.queue(*reply(timeline, [("The sea is very deep and very wide.", 1, 2.0)]))
        await graph.settle()
        timeline.committed = True
        await graph.queue(CommitTurnFrame(timeline=timeline))
        await s.listener.wait_until(lambda: len(s.listener.audio) >= 2)
        await graph.queue(InterruptionFrame())
        await graph.settle()

    piece = 2 * round(SLICE_S * SAMPLE_RATE)
    assert all(size <= piece for size, _ in s.listener.audio)
    # Cut as the second piece went out: far less than the sentence reached the device.
    assert sum(size for size, _ in s.listener.audio) < 2 * round(2.0 * SAMPLE_RATE) / 2
    (turn,) = s.listener.turns
    assert turn.interrupted
