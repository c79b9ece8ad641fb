"""Clause splitting of a streamed LLM reply: `ClauseSplitter` fed the pieces as they arrive.

One benchmark round is a whole reply: a fresh splitter (as `ClauseSplitting`
resets per interruption), every piece pushed in order, then `flush`. Pieces
hold one to four words with their spacing, as Anthropic's streamed text
deltas do.
"""

from __future__ import annotations

import itertools
import re

from pytest_benchmark.fixture import BenchmarkFixture

from pipeline.text import ClauseSplitter

REPLY = (
    "Good morning, Margaret! It's lovely to hear from you again. Dr. Patel's office called "
    "earlier, and they've moved your appointment to Thursday at 10:30 a.m., so there's no rush "
    "today. Remember to take 2.5 mg of your blood pressure tablet with breakfast; the "
    "pharmacist said it works best with food. The weather looks mild, around 18 degrees, "
    "which would be perfect for a short walk in the garden \u2014 maybe after lunch? Your "
    "grandson Tom mentioned he'd call this evening, e.g. around six, to tell you about his "
    "new job. Would you like me to remind you when it's time?"
)
"""A reply of 100 words and 13 clauses: abbreviations, numbers, a dash, questions."""
RUN_ON = " ".join(["and then we walked a little further along the river bank"] * 6) + "."
"""66 words with no punctuation until the end: only the 30-word cap breaks it."""
PIECE_WORDS = (2, 1, 3, 2, 4, 1, 2)
"""Words per streamed piece, repeated."""


def pieces(text: str) -> list[str]:
    words = re.findall(r"\S+\s*", text)
    out: list[str] = []
    for size in itertools.cycle(PIECE_WORDS):
        if not words:
            return out
        out.append("".join(words[:size]))
        words = words[size:]
    return out


def split(stream: list[str]) -> list[str]:
    splitter = ClauseSplitter()
    clauses: list[str] = []
    for piece in stream:
        clauses += splitter.push(piece)
    return clauses + splitter.flush()


def test_split_streamed_reply(benchmark: BenchmarkFixture) -> None:
    stream = pieces(REPLY)
    benchmark.group = "clause splitting"
    clauses = benchmark(split, stream)
    assert "".join(stream) == REPLY
    assert len(clauses) == 13, clauses
    benchmark.extra_info.update(
        measures="ClauseSplitter over one streamed reply: every push, then flush",
        words=len(REPLY.split()),
        pieces=len(stream),
        clauses=len(clauses),
    )


def test_split_run_on_reply(benchmark: BenchmarkFixture) -> None:
    stream = pieces(RUN_ON)
    benchmark.group = "clause splitting"
    clauses = benchmark(split, stream)
    assert len(clauses) == 3, clauses
    assert " ".join(clauses) == RUN_ON
    benchmark.extra_info.update(
        measures="ClauseSplitter over a reply without punctuation (breaks at the 30-word cap)",
        words=len(RUN_ON.split()),
        pieces=len(stream),
        clauses=len(clauses),
    )
