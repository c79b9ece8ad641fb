"""Matching alert phrases against what a resident said, tolerant of how speech is transcribed.

Text is split into clauses (at punctuation and at "but"), normalised (lower case, accents and
punctuation dropped, contractions expanded, `variants` applied word by word) and matched word
by word: a phrase's `*` is a gap of up to two words, `a|b` either word. A negation within three
words before the match (same clause), or inside a gap, cancels it ("I didn't fall"); so does an
`exclude` phrase overlapping it ("I fell asleep"). Pure functions, no I/O: microseconds a turn.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import msgspec

GAP = "*"
MAX_GAP = 2
NEGATION_WINDOW = 3
NEGATIONS = frozenset({"not", "no", "never", "nearly", "almost", "nobody", "nothing", "neither", "nor"})

_CONTRACTIONS = {
    "can't": "cannot",
    "cant": "cannot",
    "won't": "will not",
    "wont": "will not",
    "shan't": "shall not",
    "i'm": "i am",
    "im": "i am",
    "it's": "it is",
    "that's": "that is",
    "there's": "there is",
    "what's": "what is",
    "where's": "where is",
    "he's": "he is",
    "she's": "she is",
    "let's": "let us",
    "didnt": "did not",
    "dont": "do not",
    "doesnt": "does not",
    "isnt": "is not",
    "wasnt": "was not",
    "couldnt": "could not",
    "havent": "have not",
    "hasnt": "has not",
    "wouldnt": "would not",
    "ive": "i have",
}
_SUFFIXES = (("'ve", "have"), ("'m", "am"), ("'re", "are"), ("'ll", "will"), ("'d", "would"))
_CLAUSE = re.compile(r"[.,;:!?\n]+|\bbut\b|\bthough\b|\balthough\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")


class Piece(msgspec.Struct, frozen=True):
    """One word of a phrase: any of `words`, or a gap (`words` empty)."""

    words: frozenset[str]

    @property
    def is_gap(self) -> bool:
        return not self.words


class CompiledRule(msgspec.Struct, frozen=True):
    id: str
    severity: str
    phrases: tuple[tuple[Piece, ...], ...]
    exclude: tuple[tuple[Piece, ...], ...]
    negated_only: tuple[tuple[Piece, ...], ...]


class Match(msgspec.Struct, frozen=True):
    rule_id: str
    severity: str
    phrase: str
    """The words that matched, normalised."""


def normalise_words(text: str, variants: dict[str, str]) -> list[str]:
    """The words of `text`, as phrases are matched against them."""
    text = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'").replace("\u2018", "'"))
    # Accents go (a combining mark after its letter); any other character not ASCII separates words.
    text = "".join(c if c.isascii() else "" if unicodedata.combining(c) else " " for c in text)
    words: list[str] = []
    for raw in _WORD.findall(text):
        word = raw.strip("'")
        expanded = _CONTRACTIONS.get(word) or _CONTRACTIONS.get(word.replace("'", ""))
        if expanded is None and word.endswith("n't"):
            expanded = word[:-3] + " not"
        for suffix, full in _SUFFIXES:
            if expanded is None and word.endswith(suffix):
                expanded = f"{word[: -len(suffix)]} {full}"
        for part in (expanded or word.replace("'", "")).split():
            words.extend(variants.get(part, part).split())
    return words


def clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c.strip()]


def compile_phrase(phrase: str, variants: dict[str, str]) -> tuple[Piece, ...]:
    pieces = []
    for token in phrase.lower().split():
        if token == GAP:
            pieces.append(Piece(frozenset()))
            continue
        options: set[str] = set()
        for option in token.split("|"):
            options.update(normalise_words(option, variants)[:1] or [option])
        pieces.append(Piece(frozenset(options)))
    return tuple(pieces)


def compile_rule(
    rule_id: str,
    severity: str,
    phrases: Sequence[str],
    *,
    exclude: Sequence[str],
    negated_only: Sequence[str],
    variants: dict[str, str],
) -> CompiledRule:
    negated = {compile_phrase(p, variants) for p in negated_only}
    return CompiledRule(
        id=rule_id,
        severity=severity,
        phrases=tuple(compile_phrase(p, variants) for p in phrases),
        exclude=tuple(compile_phrase(p, variants) for p in exclude),
        negated_only=tuple(negated),
    )


def find(rules: Sequence[CompiledRule], text: str, variants: dict[str, str]) -> list[Match]:
    """Each rule that matches `text` (at most once per rule), in the rules' order."""
    words: list[str] = []
    clause_of: list[int] = []
    for index, clause in enumerate(clauses(text)):
        clause_words = normalise_words(clause, variants)
        words.extend(clause_words)
        clause_of.extend([index] * len(clause_words))
    found = []
    for rule in rules:
        span = _rule_span(rule, words, clause_of)
        if span is not None:
            found.append(Match(rule.id, rule.severity, " ".join(words[span[0] : span[1]])))
    return found


def _rule_span(rule: CompiledRule, words: list[str], clause_of: list[int]) -> tuple[int, int] | None:
    """Phrases match across clauses ("Help! Help!"); a negation counts only in the match's clause."""
    excluded = [s for p in rule.exclude for s in _spans(p, words)]
    for phrase in rule.phrases:
        wants_negation = phrase in rule.negated_only
        for start, end, gap_negated in _spans_with_gaps(phrase, words):
            if any(s < end and start < e for s, e in excluded):
                continue
            negated = gap_negated or _negated_before(words, clause_of, start)
            if negated == wants_negation:
                return start, end
    return None


def _negated_before(words: list[str], clause_of: list[int], start: int) -> bool:
    window = range(max(0, start - NEGATION_WINDOW), start)
    return any(words[i] in NEGATIONS and clause_of[i] == clause_of[start] for i in window)


def _spans(phrase: tuple[Piece, ...], words: list[str]) -> list[tuple[int, int]]:
    return [(s, e) for s, e, _ in _spans_with_gaps(phrase, words)]


def _spans_with_gaps(phrase: tuple[Piece, ...], words: list[str]) -> list[tuple[int, int, bool]]:
    """(start, end, a negation inside a gap) of each place `phrase` matches."""
    found = []
    for start in range(len(words)):
        end = _match_at(phrase, 0, words, start)
        if end is not None:
            found.append((start, end[0], end[1]))
    return found


def _match_at(phrase: tuple[Piece, ...], i: int, words: list[str], j: int) -> tuple[int, bool] | None:
    if i == len(phrase):
        return j, False
    piece = phrase[i]
    if piece.is_gap:
        for skip in range(MAX_GAP + 1):
            if j + skip > len(words):
                break
            rest = _match_at(phrase, i + 1, words, j + skip)
            if rest is not None:
                return rest[0], rest[1] or any(w in NEGATIONS for w in words[j : j + skip])
        return None
    if j < len(words) and words[j] in piece.words:
        return _match_at(phrase, i + 1, words, j + 1)
    return None
