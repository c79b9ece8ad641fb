"""What an activity's `config` may hold, per `activity_type` (README, "Trivia and stories").

As with a request body's own fields (the spec's `config: dict`), keys a game does not know are
ignored; a known key of the wrong type, or a value the game cannot play, is refused (422).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec

from server.activities.banks import Banks, Difficulty, shipped_banks
from server.media.cue import playback_config

RUN_TYPES = frozenset({"trivia", "story"})
"""Activity types a runner drives (others, e.g. sync_playback, only get their start)."""

T = TypeVar("T", bound=msgspec.Struct)
Seconds = Annotated[float, msgspec.Meta(ge=2, le=120)]


class TriviaConfig(msgspec.Struct, frozen=True):
    difficulty: Difficulty = "easy"
    rounds: Annotated[int, msgspec.Meta(ge=1, le=30)] = 5
    answer_window_s: Seconds = 20.0
    """How long answers are taken once the question has been read out."""
    topics: list[str] | None = None
    """Only these topics (the banks' `topic` names); all by default."""
    questions: list[str] | None = None
    """These questions, in this order (ids from the banks), instead of a draw."""


class StoryConfig(msgspec.Struct, frozen=True):
    story: str | None = None
    """The story's id; one drawn for the activity by default."""
    vote_window_s: Seconds = 15.0
    """How long votes are taken once the choice has been read out."""


def trivia_config(config: dict[str, Any], banks: Banks | None = None) -> TriviaConfig:
    banks = banks or shipped_banks()
    parsed = _convert(config, TriviaConfig)
    unknown = [t for t in parsed.topics or [] if t not in banks.topics]
    if unknown:
        raise _invalid(f"unknown topics {unknown}; known: {sorted(banks.topics)}", "topics")
    if parsed.questions is not None:
        missing = [q for q in parsed.questions if q not in banks.questions]
        if missing or len(parsed.questions) < parsed.rounds:
            raise _invalid(
                f"`questions` must name at least `rounds` known question ids ({missing})", "questions"
            )
    elif len(banks.pool(parsed.difficulty, parsed.topics)) < parsed.rounds:
        raise _invalid("fewer questions of that difficulty and those topics than `rounds`", "rounds")
    return parsed


def story_config(config: dict[str, Any], banks: Banks | None = None) -> StoryConfig:
    banks = banks or shipped_banks()
    parsed = _convert(config, StoryConfig)
    if parsed.story is not None and parsed.story not in banks.stories:
        raise _invalid(f"unknown story; known: {sorted(banks.stories)}", "story")
    return parsed


def check_config(activity_type: str, config: dict[str, Any]) -> None:
    """`ConfigError` for a config the activity's runner could not run (`GroupActivityRequest` checks
    it, so a bad one is refused with 422 before anything starts)."""
    if activity_type == "trivia":
        trivia_config(config)
    elif activity_type == "story":
        story_config(config)
    elif activity_type == "sync_playback":
        playback_config(config)  # the media's name; whether the library has it is checked at the start


def _convert(config: dict[str, Any], kind: type[T]) -> T:
    try:
        return msgspec.convert(config, kind)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc), None) from None


class ConfigError(ValueError):
    """A config its activity cannot run (a `ValueError`: in a request body's check, a 422)."""


def _invalid(reason: str, field: str | None) -> ConfigError:
    where = f"config.{field}: " if field is not None else "config: "
    return ConfigError(f"{where}{reason}")
