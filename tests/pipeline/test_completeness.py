"""Reading a transcript as a finished utterance, for the end-of-turn decision."""

from __future__ import annotations

import pytest

from pipeline.text.completeness import completeness


@pytest.mark.parametrize(
    "text",
    [
        "What time is my medication?",
        "Can you remind me to call my daughter?",
        "Hello. How can I help you today?",
        "Could you read me the news?",
        '"Where are my glasses?"',
    ],
)
def test_finished_questions(text: str) -> None:
    assert completeness(text) == "question"


@pytest.mark.parametrize(
    "text",
    [
        "Tell me a story about the sea.",
        "Show me the photos of my grandson.",
        "Please, turn on the lights.",
        "Let's play a trivia game!",
        "Hello. Remind me to call my daughter.",
    ],
)
def test_finished_requests(text: str) -> None:
    assert completeness(text) == "request"


@pytest.mark.parametrize(
    "text",
    [
        "I feel a little tired this morning.",
        "Thank you very much.",
        "I would like to hear a song.",
        "Tell me a story. I feel lonely.",  # only the last sentence counts
    ],
)
def test_finished_statements(text: str) -> None:
    assert completeness(text) == "statement"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Hello.",  # a greeting on its own often opens a sentence
        "What?",
        "Good morning.",
        "Can you remind me to...",
        "I took my pills, but I feel a bit…",
        "I read the letter from my sister,",
        "I was thinking maybe we",
        "I would like to hear a song by the.",  # Whisper punctuates even a sentence cut off
        "Tell me a story about the sea and.",
        "I think that I.",
        "Can you play some music from the",
        "So, um.",
        "Tell me.",
        "Show me the photos of my",
    ],
)
def test_unfinished_or_too_short(text: str) -> None:
    assert completeness(text) == "incomplete"
