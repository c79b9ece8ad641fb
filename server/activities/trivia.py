"""Trivia as data and words: which questions a game asks, how the quizmaster says them, and scoring.

Pure functions of the activity (its id seeds every draw), so any instance that takes a game over
asks the same questions with the same options in the same order.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.activities.banks import BankQuestion, Banks
from server.activities.config import TriviaConfig
from server.activities.matching import LETTERS


@dataclass(frozen=True)
class Asked:
    """One question of a game, its options in the order read out."""

    question: BankQuestion
    labels: list[str]
    """What is read out for each option."""
    phrasings: list[list[str]]
    """Each option's accepted phrasings (the right one with its variants)."""
    right: int

    @property
    def answer(self) -> str:
        return self.labels[self.right]


def plan(activity_id: str, config: TriviaConfig, banks: Banks) -> list[Asked]:
    """The game's questions: `config.questions` in order, or a draw of `rounds` from the pool."""
    rng = random.Random(activity_id)
    if config.questions is not None:
        chosen = [banks.questions[q] for q in config.questions[: config.rounds]]
    else:
        chosen = rng.sample(banks.pool(config.difficulty, config.topics), config.rounds)
    return [_options(q, rng) for q in chosen]


def _options(question: BankQuestion, rng: random.Random) -> Asked:
    item = question.item
    entries = [(item.answer, [item.answer, *item.accept])] + [(w, [w]) for w in item.wrong]
    order = list(range(len(entries)))
    rng.shuffle(order)
    return Asked(
        question=question,
        labels=[entries[i][0] for i in order],
        phrasings=[entries[i][1] for i in order],
        right=order.index(0),
    )


def spoken_options(labels: Sequence[str]) -> str:
    """ "A, Paris. B, Rome. Or C, Madrid." """
    parts = [f"{LETTERS[i].upper()}, {label}" for i, label in enumerate(labels)]
    return ". ".join(parts[:-1]) + f". Or {parts[-1]}."


def intro_line(rounds: int, difficulty: str) -> str:
    return (
        f"Welcome to the quiz! There are {rounds} questions, and they are {difficulty} ones. "
        "Say your answer, or press the button with its letter."
    )


def question_line(number: int, rounds: int, asked: Asked) -> str:
    return f"Question {number} of {rounds}. {asked.question.item.question} {spoken_options(asked.labels)}"


def result_line(asked: Asked, right: Sequence[str]) -> str:
    """The answer, and who got it (by name)."""
    answer = f"The answer is {asked.labels[asked.right]}."
    if not right:
        return f"{answer} Nobody got that one, never mind!"
    return f"{answer} Well done, {_and(right)}!"


def standings_line(scores: Mapping[str, int], names: Mapping[str, str]) -> str:
    ranked = sorted(names, key=lambda d: (-scores.get(d, 0), names[d]))
    parts = [f"{names[d]} {_points(scores.get(d, 0))}" for d in ranked]
    return "The scores so far: " + ", ".join(parts) + "."


def winner_line(scores: Mapping[str, int], names: Mapping[str, str]) -> str:
    top = max((scores.get(d, 0) for d in names), default=0)
    best = sorted(names[d] for d in names if scores.get(d, 0) == top)
    if top == 0:
        return "That's the end of the quiz. No points this time, but thank you all for playing!"
    if len(best) == 1:
        return f"That's the end of the quiz! The winner is {best[0]} with {_points(top)}. Well played!"
    return (
        f"That's the end of the quiz! It's a tie between {_and(best)}, with {_points(top)} each. Well played!"
    )


def tally(
    results: Sequence[Mapping[str, int | None]], rights: Sequence[int], users: Mapping[str, str]
) -> dict[str, int]:
    """Scores from every scored round: a point per right answer, per device and per `user:<id>`."""
    scores: dict[str, int] = {}
    for chosen, right in zip(results, rights, strict=True):
        for device_id, option in chosen.items():
            point = 1 if option == right else 0
            scores[device_id] = scores.get(device_id, 0) + point
            if device_id in users:
                key = f"user:{users[device_id]}"
                scores[key] = scores.get(key, 0) + point
    return scores


def _points(n: int) -> str:
    return f"{n} point" if n == 1 else f"{n} points"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
