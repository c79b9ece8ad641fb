"""The harness's rules for what a person hears of a reply: talk-over, double answers, the right moment."""

from __future__ import annotations

import base64

import msgspec

from benchmarks.lib.attribution import ReplyAudio, attribute
from benchmarks.lib.device import Received
from benchmarks.reference.link import pipecat_reply_audio
from benchmarks.voice.report import part_summary
from benchmarks.voice.turn import TurnResult, companion_reply_audio
from tests.benchmarks.synthetic import turn

END = 10.0
"""The clip's turn end, as a wall-clock time."""


def test_a_reply_after_the_turn_end_is_the_answer_and_nothing_was_talked_over() -> None:
    found = attribute([ReplyAudio(10.6, 0.5, 1), ReplyAudio(11.1, 0.5, 1)], END)
    assert found.answer == ReplyAudio(10.6, 0.5, 1)
    assert (found.talked_over, found.talk_over_s, found.replies, found.double_answer) == (
        False,
        0.0,
        1,
        False,
    )


def test_audio_before_the_turn_end_is_talk_over_and_a_second_reply_a_double_answer() -> None:
    # The bot ended the turn at a pause 3 s before its end, spoke 1.5 s, was cut, then answered the whole.
    audio = [
        ReplyAudio(7.2, 0.5, 1),
        ReplyAudio(7.7, 0.5, 1),
        ReplyAudio(8.2, 0.5, 1),
        ReplyAudio(11.0, 0.4, 2),
    ]
    found = attribute(audio, END)
    assert found.talked_over
    assert found.talk_over_s == 1.5
    assert found.replies == 2
    assert found.double_answer
    assert found.answer == ReplyAudio(11.0, 0.4, 2)  # not the early reply: the moment is the turn end


def test_the_tail_of_an_early_reply_is_not_an_answer() -> None:
    # A reply begun mid-turn that goes on past the end: no reply starts after the end.
    found = attribute([ReplyAudio(9.0, 0.6, 1), ReplyAudio(9.6, 0.6, 1), ReplyAudio(10.2, 0.6, 1)], END)
    assert found.answer is None
    assert found.first == ReplyAudio(9.0, 0.6, 1)
    assert found.talk_over_s == 1.2
    assert found.replies == 1


def test_no_audio_is_no_answer() -> None:
    found = attribute([], END)
    assert found.answer is None
    assert found.first is None
    assert found.replies == 0


def test_this_servers_replies_are_told_apart_by_turn_id() -> None:
    pcm = base64.b64encode(bytes(2 * 1600)).decode()  # 0.1 s at 16 kHz

    def audio(at: float, turn_id: int, index: int) -> Received:
        payload = {"final": False, "audio_b64": pcm, "sample_rate": 16000, "turn_id": turn_id}
        return Received("audio_response", payload, at, index)

    messages = [
        audio(9.0, 3, 0),
        Received("stop_playback", {}, 9.5, 1),
        Received("audio_response", {"final": True, "turn_id": 3}, 9.6, 2),
        audio(10.8, 4, 3),
    ]
    pieces = companion_reply_audio(messages)
    assert [(p.reply, p.index, round(p.seconds, 3)) for p in pieces] == [(3, 0, 0.1), (4, 3, 0.1)]
    assert attribute(pieces, END).answer == pieces[1]


def test_stock_pipecats_replies_are_the_user_turns_they_answer() -> None:
    def audio(at: float, index: int) -> Received:
        return Received("audio", {"bytes": 2 * 1600, "sample_rate": 16000}, at, index)

    messages = [
        audio(4.0, 0),  # the tail of the reply before: not this clip's
        Received("user-started-speaking", {}, 5.0, 0),
        Received("user-stopped-speaking", {}, 8.0, 1),  # ended at a pause inside the turn
        Received("bot-started-speaking", {}, 8.9, 2),
        audio(8.9, 3),
        Received("user-started-speaking", {}, 9.1, 4),
        Received("bot-stopped-speaking", {}, 9.4, 5),
        Received("user-stopped-speaking", {}, 10.4, 6),
        audio(10.9, 7),
        audio(11.0, 8),
    ]
    pieces = pipecat_reply_audio(messages)
    assert [(p.reply, p.index) for p in pieces] == [(1, 3), (2, 7), (2, 8)]
    found = attribute(pieces, END)
    assert found.replies == 2
    assert found.talk_over_s == 0.1
    assert found.answer == pieces[1]


def test_a_set_of_clips_counts_talk_over_and_double_answers_and_times_only_answered_turns() -> None:
    plain = turn(500.0)
    early = _with(turn(700.0), talk_over_s=1.5, replies=2)
    ran_on = _with(turn(-900.0), talk_over_s=2.0, answered=False)
    silent = _with(turn(15000.0), answered=False, replies=0)  # never answered: counted, not timed
    summary = part_summary("human-dev", [plain, early, ran_on, silent])
    assert (summary.turns, summary.talked_over, summary.double_answers) == (4, 2, 1)
    assert (summary.unanswered_after_end, summary.no_reply) == (2, 1)
    assert summary.voice_to_voice_ms is not None
    assert summary.voice_to_voice_ms.n == 2
    assert summary.voice_to_voice_ms.max == 700.0
    assert summary.talk_over_s is not None
    assert summary.talk_over_s.max == 2.0


def _with(result: TurnResult, **changes: object) -> TurnResult:
    return msgspec.structs.replace(result, **changes)
