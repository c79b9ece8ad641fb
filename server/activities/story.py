"""A group story as data and words: which story, how a choice is put, and how the vote is counted.

The vote: each listening device has one vote (its last answer in the window counts). The option
with most votes wins; on a tie, the choice's `default` if it is among the tied options, else the
tied option read out first; with no votes at all, the `default`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from server.activities.banks import Banks, Choice, Story
from server.activities.config import StoryConfig
from server.activities.matching import LETTERS


def choose_story(activity_id: str, config: StoryConfig, banks: Banks) -> Story:
    if config.story is not None:
        return banks.stories[config.story]
    return banks.stories[random.Random(activity_id).choice(sorted(banks.stories))]


def phrasings(choice: Choice) -> list[list[str]]:
    return [[o.label, *o.accept, o.id.replace("_", " ")] for o in choice.options]


def choice_line(choice: Choice) -> str:
    labels = [f"{LETTERS[i].upper()}, {o.label}" for i, o in enumerate(choice.options)]
    return (
        f"{choice.question} Say {' or '.join(o.label for o in choice.options)}, or press {', '.join(labels)}."
    )


def winner(choice: Choice, votes: Iterable[int | None]) -> int:
    """The option taken (by index), by the rule in the module's docstring."""
    counts = Counter(v for v in votes if v is not None and 0 <= v < len(choice.options))
    default = next(i for i, o in enumerate(choice.options) if o.id == choice.default)
    if not counts:
        return default
    top = max(counts.values())
    tied = [i for i in range(len(choice.options)) if counts.get(i) == top]
    return default if default in tied else tied[0]


def decided_line(choice: Choice, taken: int, votes: int) -> str:
    label = choice.options[taken].label
    if votes == 0:
        return f"Nobody chose, so we'll go with {label}."
    return f"You chose {label}. Let's see what happens."


def intro_line(story: Story) -> str:
    return f"Gather round for a story: {story.title}. Now and then, you'll choose what happens next."
