"""The clause splitter: early first clauses, no breaks inside numbers or abbreviations."""

from __future__ import annotations

import pytest

from pipeline.text import ClauseSplitter


def split_streamed(text: str, *, piece: int = 3, **kwargs: int) -> list[str]:
    splitter = ClauseSplitter(**kwargs)
    clauses: list[str] = []
    for start in range(0, len(text), piece):
        clauses += splitter.push(text[start : start + piece])
    return clauses + splitter.flush()


def test_sentences() -> None:
    text = "Good morning! It is a lovely day. Shall we start?"
    assert split_streamed(text) == ["Good morning!", "It is a lovely day.", "Shall we start?"]


def test_a_long_first_clause_breaks_at_a_comma() -> None:
    text = "Well, after you have had your breakfast, we could take a short walk in the garden."
    assert split_streamed(text) == [
        "Well, after you have had your breakfast,",
        "we could take a short walk in the garden.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Take 2.5 tablets at 8 p.m. with water.",
        "Dr. Smith will visit at noon.",
        "I met J. Smith yesterday.",
        "Bring fruit, e.g. apples or pears.",
    ],
)
def test_no_break_inside_numbers_or_abbreviations(text: str) -> None:
    assert split_streamed(text, piece=1) == [text]


def test_the_first_clause_is_available_before_the_reply_ends() -> None:
    splitter = ClauseSplitter()
    assert splitter.push("Hello there") == []
    assert splitter.push("! How") == ["Hello there!"]
    assert splitter.flush() == ["How"]


def test_run_on_text_is_cut_at_max_words() -> None:
    words = " ".join(f"word{i}" for i in range(40))
    clauses = split_streamed(words, max_words=10)
    assert " ".join(clauses) == words
    assert all(len(c.split()) <= 11 for c in clauses)


def test_pieces_never_lose_or_duplicate_text() -> None:
    text = "One, two three four five; six. Seven! Eight… nine: ten — eleven twelve thirteen, fourteen?"
    for piece in (1, 2, 5, 13, 100):
        assert " ".join(split_streamed(text, piece=piece)) == " ".join(text.split())


def test_reset_drops_the_buffer() -> None:
    splitter = ClauseSplitter()
    splitter.push("Half a sente")
    splitter.reset()
    assert splitter.flush() == []


def test_a_run_on_clause_is_cut_at_max_words_even_when_pieces_bring_several_words() -> None:
    text = " ".join(f"w{i}" for i in range(70)) + "."
    clauses = split_streamed(text, piece=11, max_words=30)
    assert [len(c.split()) for c in clauses] == [30, 30, 10]
    assert " ".join(clauses) == text
