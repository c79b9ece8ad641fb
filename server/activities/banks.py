"""The activities' content as data: trivia question banks and branching stories (TOML files).

Files ship in `server/activities/data/` (`trivia/*.toml`, one topic each; `stories/*.toml`, one
story each). Each is decoded straight into frozen Structs that reject unknown fields and checked as
a whole at load, so a bad file stops start-up with an error naming the file and the field rather
than failing in front of residents mid-game.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import msgspec

DATA_DIR = Path(__file__).parent / "data"

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
Key = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]


class BankFileError(Exception):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


class Question(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Key
    question: Text
    answer: Text
    """What the quizmaster says is right (digits for a number: matched as words too)."""
    wrong: Annotated[list[Text], msgspec.Meta(min_length=1, max_length=3)]
    """The other options of the multiple choice read out with the question."""
    accept: list[Text] = []
    """Other ways of saying the answer."""


class TopicFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    topic: Key
    title: Text
    easy: list[Question] = []
    medium: list[Question] = []
    hard: list[Question] = []


class BankQuestion(msgspec.Struct, frozen=True):
    """A question with where it came from."""

    topic: str
    difficulty: Difficulty
    item: Question


class Option(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Key
    label: Text
    """How the storyteller names it ("the boat")."""
    next: Key
    """The chapter it leads to."""
    accept: list[Text] = []
    """Other words a listener may say for it."""


class Choice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    question: Text
    options: Annotated[list[Option], msgspec.Meta(min_length=2, max_length=4)]
    default: Key
    """The option taken when nobody answers (and on a tie it is among: README, "Group activities")."""


class Chapter(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    choice: Choice | None = None
    """None: the story ends here."""


class Story(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Key
    title: Text
    start: Key
    chapters: dict[str, Chapter]


class Banks(msgspec.Struct, frozen=True):
    questions: dict[str, BankQuestion]
    """By question id."""
    topics: dict[str, str]
    """Topic → title."""
    stories: dict[str, Story]

    def pool(self, difficulty: Difficulty, topics: list[str] | None = None) -> list[BankQuestion]:
        """The questions of a difficulty (of `topics` if given), in a stable order."""
        return [
            q
            for q in self.questions.values()
            if q.difficulty == difficulty and (not topics or q.topic in topics)
        ]


T = TypeVar("T")


def _decode(path: Path, kind: type[T]) -> T:
    try:
        return msgspec.convert(tomllib.loads(path.read_text("utf-8")), kind)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BankFileError(path, f"not a TOML file: {exc}") from None
    except msgspec.ValidationError as exc:
        raise BankFileError(path, str(exc)) from None


def _check_story(path: Path, story: Story) -> None:
    if story.start not in story.chapters:
        raise BankFileError(path, f"start chapter `{story.start}` is not in `chapters`")
    for name, chapter in story.chapters.items():
        if chapter.choice is None:
            continue
        ids = [o.id for o in chapter.choice.options]
        if len(set(ids)) != len(ids):
            raise BankFileError(path, f"chapters.{name}.choice: option ids repeat")
        if chapter.choice.default not in ids:
            raise BankFileError(
                path, f"chapters.{name}.choice.default: `{chapter.choice.default}` is no option"
            )
        for option in chapter.choice.options:
            if option.next not in story.chapters:
                raise BankFileError(path, f"chapters.{name}.choice: option `{option.id}` leads nowhere")


def load_banks(directory: Path = DATA_DIR) -> Banks:
    questions: dict[str, BankQuestion] = {}
    topics: dict[str, str] = {}
    for path in sorted((directory / "trivia").glob("*.toml")):
        bank = _decode(path, TopicFile)
        topics[bank.topic] = bank.title
        for difficulty in DIFFICULTIES:
            for item in getattr(bank, difficulty):
                if item.id in questions:
                    raise BankFileError(path, f"question id `{item.id}` is used twice")
                questions[item.id] = BankQuestion(topic=bank.topic, difficulty=difficulty, item=item)
    stories: dict[str, Story] = {}
    for path in sorted((directory / "stories").glob("*.toml")):
        story = _decode(path, Story)
        _check_story(path, story)
        stories[story.id] = story
    return Banks(questions=questions, topics=topics, stories=stories)


@cache
def shipped_banks() -> Banks:
    """The banks shipped with the package, loaded once per process."""
    return load_banks()
