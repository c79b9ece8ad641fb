"""Split a streamed LLM reply into clauses, so the voice can start on the first one.

The reply arrives in pieces (tokens, words). `ClauseSplitter.push` returns the
clauses completed by each piece; `flush` returns what is left at the end.

A clause ends at sentence punctuation (. ! ? …) followed by a space, or at a
comma, semicolon, colon or dash once it holds at least `min_words` words (so the
first audio starts after a few words, not a whole sentence, without chopping
speech into fragments too short to sound natural). A period is not an end inside
a number ("3.5"), after a known abbreviation ("Dr.", "e.g.") or after a single
capital letter ("J. Smith").
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "jr",
        "sr",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "approx",
        "no",
        "dept",
        "mt",
        "ft",
    ]
)
_SENTENCE_END = frozenset(".!?…")
_SOFT_END = frozenset(",;:\u2014\u2013")  # em and en dash
_WORD = re.compile(r"\S+")


class ClauseSplitter:
    def __init__(self, *, min_words: int = 4, max_words: int = 30) -> None:
        """`max_words` forces a break (at the last space) in a run-on clause with no punctuation."""
        self._min_words = min_words
        self._max_words = max_words
        self._buffer = ""

    def push(self, piece: str) -> list[str]:
        """Add a piece of the reply; return the clauses it completes, in order."""
        self._buffer += piece
        clauses: list[str] = []
        while (end := self._find_end()) is not None:
            clause, self._buffer = self._buffer[:end].strip(), self._buffer[end:]
            if clause:
                clauses.append(clause)
        return clauses

    def flush(self) -> list[str]:
        """The rest of the reply, once the LLM is done."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def reset(self) -> None:
        """Drop what is buffered (the reply was interrupted)."""
        self._buffer = ""

    def _find_end(self) -> int | None:
        text = self._buffer
        # Only a boundary followed by whitespace is final: the next piece could still extend "3." to "3.5".
        for i, char in enumerate(text[:-1]):
            if not text[i + 1].isspace():
                continue
            if char in _SENTENCE_END and not self._is_abbreviation(text, i):
                return i + 1
            if char in _SOFT_END and _word_count(text[:i]) >= self._min_words:
                return i + 1
        words = list(_WORD.finditer(text))
        if len(words) > self._max_words:
            # After the `max_words`-th word, however many words the last piece brought.
            return words[self._max_words - 1].end()
        return None

    @staticmethod
    def _is_abbreviation(text: str, i: int) -> bool:
        if text[i] != ".":
            return False
        words = _WORD.findall(text[: i + 1])
        if not words:
            return False
        word = words[-1].rstrip(".").lower()
        return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha() and words[-1][0].isupper())


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))
