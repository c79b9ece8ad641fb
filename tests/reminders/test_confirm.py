"""What counts as a resident's spoken confirmation of a reminder, as the ASR writes it."""

from __future__ import annotations

import pytest

from server.reminders.confirm import confirms

YES = [
    "Yes, I took it.",
    "yes",
    "Yeah.",
    "Done.",
    "I have.",
    "I have done it already.",
    "I did it",
    "I did.",
    "I've taken them",
    "I\u2019ve had it",
    "All done, thank you.",
    "I took my pills.",
    "Finished",
]
NO = [
    "No, not yet.",
    "I didn't take it",
    "I didnt take it",
    "I haven't.",
    "Not yet, later.",
    "I have a headache.",
    "What time is it?",
    "I forgot.",
    "",
    "I fell in the kitchen and I can't get up.",
    "Yes the weather is lovely today and I would like to go outside for a long walk later",
    "The weather is nice outside today, isn't it?",
]


@pytest.mark.parametrize("text", YES)
def test_these_confirm(text: str) -> None:
    assert confirms(text)


@pytest.mark.parametrize("text", NO)
def test_these_do_not(text: str) -> None:
    assert not confirms(text)
