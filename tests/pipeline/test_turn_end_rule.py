"""The end-of-turn decision: Smart Turn, and the speculative transcript as a second opinion."""

from __future__ import annotations

import pytest

from pipeline.engines.turn import TurnPrediction
from pipeline.graph.listen import TurnParams, judge_dangling, judge_turn_end, judge_unfinished

PARAMS = TurnParams()


def predicted(probability: float) -> TurnPrediction:
    return TurnPrediction(complete=probability > 0.5, probability=probability, inference_ms=1.0)


@pytest.mark.parametrize(
    ("probability", "transcript", "rule"),
    [
        (0.98, None, "smart_turn"),  # no need to wait for the words
        (0.98, "Hello.", "smart_turn"),
        (0.09, None, "silence"),  # the words are not ready yet
        (0.09, "Hello. How can I help you today?", "question"),
        (0.02, "Show me the photos of my grandson.", "request"),
        (0.58, "I feel a little tired this morning.", "statement"),
        (0.02, "Thank you very much.", "silence"),  # a statement Smart Turn rates incomplete
        (0.60, "Hello.", "silence"),  # a greeting alone often opens a sentence
        (0.70, "I took my pills, but", "silence"),
        (0.75, "", "silence"),
    ],
)
def test_rule(probability: float, transcript: str | None, rule: str) -> None:
    assert judge_turn_end(PARAMS, predicted(probability), transcript) == rule


def test_without_the_transcript_only_smart_turn_counts() -> None:
    params = TurnParams(use_transcript=False)
    assert judge_turn_end(params, predicted(0.02), "What time is my medication?") == "silence"
    assert judge_turn_end(params, predicted(0.9), None) == "smart_turn"


@pytest.mark.parametrize(
    ("probability", "transcript", "unfinished"),
    [
        (0.47, "The person at extension", True),  # no final punctuation: a number is being read out
        (0.06, "The person at extension 4 2", True),
        (0.1, "I took my pills, but", True),
        (0.1, "I read the letter from my sister and.", True),  # punctuated, yet a dangling last word
        (0.2, "Well...", True),
        (0.1, "The person at extension 205 is unavailable.", False),  # a finished sentence
        (0.1, "Tell me.", False),  # short, but punctuated: often a whole turn
        (0.1, "", False),  # nothing heard
        (0.1, None, False),  # not transcribed yet
        (0.62, "The person at extension 2 0 5 is unavailable", True),  # Whisper left the full stop out
        (0.85, "The person at extension 2 0 5 is unavailable", False),  # Smart Turn is confident
    ],
)
def test_a_turn_that_plainly_goes_on(probability: float, transcript: str | None, unfinished: bool) -> None:
    assert judge_unfinished(PARAMS, predicted(probability), transcript) is unfinished


def test_without_the_transcript_nothing_is_unfinished() -> None:
    params = TurnParams(use_transcript=False)
    assert not judge_unfinished(params, predicted(0.02), "The person at extension")


@pytest.mark.parametrize(
    ("probability", "transcript", "dangling"),
    [
        (0.1, "And then I went to the", True),  # searching for a word
        (0.1, "And then I went to the.", True),  # Whisper's full stop does not finish it
        (0.3, "I took my...", True),
        (0.2, "We could go there because", True),
        (0.1, "I was thinking, um", True),
        (0.47, "The person at extension", False),  # unfinished, but a sentence could end there
        (0.2, "Well...", False),
        (0.1, "I went to the shop.", False),  # finished
        (0.85, "And then I went to the", False),  # Smart Turn is confident: not even unfinished
        (0.1, None, False),
    ],
)
def test_a_turn_that_stops_on_a_word_no_sentence_ends_on(
    probability: float, transcript: str | None, dangling: bool
) -> None:
    assert judge_dangling(PARAMS, predicted(probability), transcript) is dangling
    if dangling:
        assert judge_unfinished(PARAMS, predicted(probability), transcript)


def test_without_a_dangling_silence_nothing_dangles() -> None:
    assert not judge_dangling(TurnParams(dangling_silence_ms=0), predicted(0.02), "I went to the")
