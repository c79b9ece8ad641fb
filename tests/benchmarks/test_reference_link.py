"""When the pipecat driver says a turn's reply has ended, on RTVI sequences the stock bot sends."""

from __future__ import annotations

from benchmarks.lib.device import Received
from benchmarks.reference.link import answered

SPOKE = ["user-started-speaking", "user-stopped-speaking"]
REPLIED = ["bot-started-speaking", "audio", "bot-stopped-speaking"]
CUT_EARLY = [
    "user-started-speaking",  # "Hello,"
    "user-stopped-speaking",  # the bot ends the turn at the pause
    "bot-started-speaking",
    "audio",
    "user-started-speaking",  # "how are you today?" interrupts the reply
    "bot-interrupted",
    "bot-stopped-speaking",
]


def messages(*types: str) -> list[Received]:
    return [Received(type_, {}, 0.0, index) for index, type_ in enumerate(types)]


def test_a_turn_answered_and_spoken_to_the_end_is_over() -> None:
    assert answered(messages(*SPOKE, *REPLIED))


def test_a_reply_the_speaker_interrupted_is_not_over_until_the_rest_is_answered() -> None:
    assert not answered(messages(*CUT_EARLY))
    assert not answered(messages(*CUT_EARLY, "user-stopped-speaking"))
    assert not answered(messages(*CUT_EARLY, "user-stopped-speaking", "bot-started-speaking"))
    assert answered(messages(*CUT_EARLY, "user-stopped-speaking", *REPLIED))


def test_a_turn_ended_but_not_yet_answered_is_not_over() -> None:
    assert not answered(messages(*SPOKE))
    assert not answered(messages(*SPOKE, *REPLIED, *SPOKE))
