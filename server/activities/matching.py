"""What a resident said, matched tolerantly to one of the options of a question or a story's choice.

A spoken answer is the final transcript of a turn, so it carries what speech carries: "I think it's
eight", "Eight.", "the Nile", "nineteen sixty-nine", "Pari" for "Paris", or the letter of a
multiple-choice option ("B.", "bee", "option C"). Both sides are normalised the same way (lower
case, punctuation and fillers dropped, articles dropped, numbers in words read as digits), then an
option matches when one of its phrasings appears in the answer, exactly or within a small edit
distance (one edit for words of 4 to 7 letters, two from 8; numbers only exactly). When the answer
names several options, the last one named counts: people correct themselves ("Rome... no, Paris").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

LETTERS = ("a", "b", "c", "d")
_LETTER_WORDS = {
    "a": "a",
    "ay": "a",
    "eh": "a",
    "b": "b",
    "bee": "b",
    "be": "b",
    "c": "c",
    "see": "c",
    "sea": "c",
    "si": "c",
    "d": "d",
    "dee": "d",
}
_LETTER_LEADS = frozenset({"option", "letter", "answer", "number", "its", "it", "is", "i", "say", "pick"})
_FILLERS = frozenset(
    {
        "um",
        "uh",
        "er",
        "erm",
        "hmm",
        "oh",
        "well",
        "ah",
        "i",
        "think",
        "its",
        "it",
        "is",
        "maybe",
        "perhaps",
        "guess",
        "answer",
        "that",
        "would",
        "be",
        "say",
        "im",
        "sure",
        "was",
        "my",
        "of",
        "course",
    }
)
_ARTICLES = frozenset({"a", "an", "the"})

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)

_PUNCTUATION = re.compile(r"[^\w\s]")
_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3})")


def words(text: str) -> list[str]:
    """Lower-case words: punctuation dropped (apostrophes join: "it's" → "its"), hyphens split."""
    text = _DIGIT_GROUPS.sub("", text.lower()).replace("-", " ").replace("'", "").replace("\u2019", "")
    return _PUNCTUATION.sub(" ", text).split()


def _numbers(tokens: Sequence[str]) -> list[str]:
    """Runs of number words read as one number ("nineteen sixty nine" → "1969", "a hundred" → "100")."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] not in _NUMBER_WORDS:
            out.append(tokens[i])
            i += 1
            continue
        if tokens[i] in _SCALES and out and out[-1] in ("a", "one"):
            out.pop()
        total, current = 0, 0
        while i < len(tokens) and (
            tokens[i] in _NUMBER_WORDS
            or (tokens[i] == "and" and i + 1 < len(tokens) and tokens[i + 1] in _NUMBER_WORDS)
        ):
            word = tokens[i]
            i += 1
            if word == "and":
                continue
            if word in _SCALES:
                scale = _SCALES[word]
                current = max(current, 1) * scale
                if scale >= 1000:
                    total, current = total + current, 0
                continue
            value = _UNITS.get(word, _TENS.get(word, 0))
            if value >= 10 and current >= 10 and current % 100 != 0:
                current = current * 100 + value  # a year said in pairs: "nineteen sixty"
            else:
                current += value
        out.append(str(total + current))
    return out


def normalise(text: str) -> list[str]:
    """The words that carry an answer: numbers as digits, no fillers, no articles."""
    tokens = _numbers(words(text))
    return [t for t in tokens if t not in _FILLERS and t not in _ARTICLES]


def letter_of(text: str) -> str | None:
    """The option letter a short answer names ("B.", "bee", "option c", "it's a"); None otherwise."""
    tokens = [t for t in words(text) if t not in _LETTER_LEADS]
    if len(tokens) == 1 and tokens[0] in _LETTER_WORDS:
        return _LETTER_WORDS[tokens[0]]
    return None


def _allowed_edits(phrase: str) -> int:
    if any(c.isdigit() for c in phrase) or len(phrase) < 4:
        return 0
    return 1 if len(phrase) < 8 else 2


def distance(a: str, b: str, limit: int) -> int:
    """Levenshtein distance of `a` and `b`, or `limit + 1` as soon as it is sure to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _last_position(answer: Sequence[str], phrase: Sequence[str]) -> int:
    """Where `phrase` last appears in `answer` (its end index), tolerantly; -1 if nowhere."""
    if not phrase:
        return -1
    target = " ".join(phrase)
    limit = _allowed_edits(target)
    best = -1
    for size in {len(phrase) - 1, len(phrase), len(phrase) + 1} - {0}:
        for start in range(0, len(answer) - size + 1):
            window = " ".join(answer[start : start + size])
            if window == target or (limit and distance(window, target, limit) <= limit):
                best = max(best, start + size)
    return best


def pick(text: str, options: Sequence[Sequence[str]]) -> int | None:
    """The option (by index) that `text` names: by one of its phrasings (the last one named when
    several are), else by its letter alone (A, B, C, D in order); None when none is."""
    answer = normalise(text)
    found: tuple[int, int] | None = None  # (end position, -phrase length) of the best so far
    chosen: int | None = None
    for index, phrasings in enumerate(options):
        for phrasing in phrasings:
            phrase = normalise(phrasing)
            end = _last_position(answer, phrase)
            if end < 0:
                continue
            key = (end, len(phrase))
            if found is None or key > found:
                found, chosen = key, index
    if chosen is not None:
        return chosen
    letter = letter_of(text)
    if letter is None or LETTERS.index(letter) >= len(options):
        return None
    return LETTERS.index(letter)


def button_choice(button: str, count: int) -> int | None:
    """The option a button names: "a".."d", "1".."4", "option_a", "answer_2" (case ignored)."""
    name = button.strip().lower()
    for lead in ("option_", "answer_", "choice_", "option", "answer", "choice"):
        if name.startswith(lead) and len(name) > len(lead):
            name = name[len(lead) :]
            break
    if name in LETTERS:
        index = LETTERS.index(name)
    elif name.isdigit():
        index = int(name) - 1
    else:
        return None
    return index if 0 <= index < count else None
