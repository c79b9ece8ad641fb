"""Spoken answers matched tolerantly to a question's options (server/activities/matching.py)."""

from __future__ import annotations

import pytest

from server.activities.matching import button_choice, normalise, pick

CAPITALS = [["Paris"], ["Rome"], ["Madrid"]]
LEGS = [["8", "eight legs"], ["6"], ["10"]]
OCEANS = [["the Pacific", "Pacific Ocean"], ["the Atlantic"], ["the Indian Ocean"]]


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Paris.", 0),
        ("I think it's Paris", 0),
        ("Pari", 0),  # a near miss: one edit
        ("Parish", 0),
        ("Rome... no, Paris!", 0),  # the last named counts
        ("Paris, no, Rome", 1),
        ("the answer is Madrid", 2),
        ("B.", 1),  # the option's letter
        ("Bee", 1),
        ("option C", 2),
        ("London", None),
        ("", None),
    ],
)
def test_capitals(said: str, expected: int | None) -> None:
    assert pick(said, CAPITALS) == expected


@pytest.mark.parametrize(
    ("said", "expected"),
    [
        ("Eight.", 0),
        ("8", 0),
        ("It has eight legs.", 0),
        ("six", 1),
        ("Ten!", 2),
        ("18", None),  # numbers match exactly, never within an edit
        ("eighty", None),
    ],
)
def test_numbers_as_words_or_digits(said: str, expected: int | None) -> None:
    assert pick(said, LEGS) == expected


def test_articles_and_variants() -> None:
    assert pick("Pacific", OCEANS) == 0
    assert pick("The Pacific Ocean.", OCEANS) == 0
    assert pick("the Indian ocean", OCEANS) == 2
    assert pick("Atlantik", OCEANS) == 1


def test_years_and_hundreds_read_as_numbers() -> None:
    assert normalise("Nineteen sixty-nine") == ["1969"]
    assert normalise("one thousand nine hundred and forty five") == ["1945"]
    assert normalise("a hundred years") == ["100", "years"]
    assert normalise("sixty nine") == ["69"]
    assert pick("nineteen forty-five", [["1945"], ["1939"], ["1950"]]) == 0


def test_a_word_that_sounds_like_a_letter_is_a_word_first() -> None:
    story = [["the boat", "sea"], ["the hill", "kite"]]
    assert pick("Sea.", story) == 0  # "sea" is C as a letter, but names the boat here
    assert pick("See.", story) is None  # C: no third option


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        ("a", 0),
        ("B", 1),
        ("3", 2),
        ("option_c", 2),
        ("answer_2", 1),
        ("d", None),
        ("talk", None),
        ("0", None),
    ],
)
def test_buttons(button: str, expected: int | None) -> None:
    assert button_choice(button, 3) == expected
