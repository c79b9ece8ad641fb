"""What a Whisper decode's text says about itself: a decoder loop, or a person hesitating.

A fitted window (`pipeline.engines.asr`) is redone when its transcript looks like a decoder
loop: it fills the token budget, ends in one phrase three times over, repeats a phrase of
three or more words, or compresses better than Whisper's own threshold. Fillers said over and
over ("uh, uh, uh") are a person searching for a word, not a loop, up to `_MAX_FILLERS`; past
that they are the decoder looping on a hesitation, and the full window, which has no redo after
it, cuts such a run to its first three.
"""

from __future__ import annotations

import re
import zlib

MAX_COMPRESSION_RATIO = 2.4
"""Whisper's own threshold: a transcript that compresses better than this is a loop."""
_FILLERS = frozenset({"uh", "um", "er", "erm", "hmm", "hm", "mm", "ah", "eh"})
_MAX_FILLERS = 10
"""More fillers than this in one transcript is the decoder looping on a hesitation, not the person."""
_FILLER_RUN = re.compile(
    rf"(?:\b(?:{'|'.join(sorted(_FILLERS))})\b[\s,.…-]*){{{_MAX_FILLERS + 1},}}", re.IGNORECASE
)


def looks_looped(text: str, tokens: list[int], *, budget: int) -> bool:
    """Whether a fitted decode (`tokens`, `text`, within a budget of `budget` tokens) looks like a loop."""
    return (
        len(tokens) >= budget
        or (_loops(tokens) and not _hesitates(text))
        or repeats_phrase(text)
        or _compression_ratio(text) > MAX_COMPRESSION_RATIO
    )


def words_or_nothing(text: str) -> str:
    """The stripped text, or "" if it has no word at all (Whisper's "." or "..." for silence)."""
    text = text.strip()
    return text if any(char.isalnum() for char in text) else ""


def _loops(tokens: list[int]) -> bool:
    """True if the transcript ends in the same 1-8 token phrase three times over."""
    for period in range(1, min(8, len(tokens) // 3) + 1):
        tail = tokens[-3 * period :]
        if tail[:period] == tail[period : 2 * period] == tail[2 * period :]:
            return True
    return False


def repeats_phrase(text: str, *, min_words: int = 3) -> bool:
    """True if a phrase of `min_words` or more words comes twice in a row (a decoder loop, not speech).

    Fillers said over and over ("uh, uh, uh, uh, uh, uh") are a person searching for a word, not a
    loop, unless there are more of them than a person says in one turn (`_MAX_FILLERS`).
    """
    words = _words(text)
    hesitating = _fillers(words) <= _MAX_FILLERS
    for period in range(min_words, len(words) // 2 + 1):
        for start in range(len(words) - 2 * period + 1):
            phrase = words[start : start + period]
            if phrase == words[start + period : start + 2 * period] and not (
                hesitating and _FILLERS.issuperset(phrase)
            ):
                return True
    return False


def _hesitates(text: str) -> bool:
    """The transcript ends in fillers ("…uh, uh, uh"), no more than a person says: a repeat at its end
    is speech, not a loop."""
    words = _words(text)
    return _FILLERS.issuperset(words[-3:]) and _fillers(words) <= _MAX_FILLERS


def without_filler_loops(text: str) -> str:
    """The full window has no redo after it: a run of more fillers than a person says (the decoder
    looping on a hesitation, "uh, uh, uh, …" 40 times) is cut to its first three."""
    return _FILLER_RUN.sub(lambda run: " ".join(run.group(0).split()[:3]) + " ", text).strip()


def _fillers(words: list[str]) -> int:
    return sum(word in _FILLERS for word in words)


def _words(text: str) -> list[str]:
    return ["".join(c for c in w.lower() if c.isalnum()) for w in text.split()]


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data))
