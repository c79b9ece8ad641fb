"""Does a transcript read as a finished utterance? A second opinion for the end-of-turn decision.

Smart Turn judges the end of a turn from the sound alone, and on flat or read
speech it often says "incomplete" when the words plainly are not. Whisper's
transcript carries another signal: its punctuation (it hears a question's rise
and a statement's fall) and the words themselves. `completeness` reads that
signal conservatively:

- "question": ends with "?" — a question the user is waiting on;
- "request": a finished imperative addressed to the companion ("Tell me a
  story about the sea.", "Please show me the photos."): it starts with one of
  `REQUEST_VERBS`, perhaps after "please", "now", "okay" or "so";
- "statement": any other sentence ending with "." or "!";
- "incomplete": anything else — no final punctuation, a trailing "…" or comma,
  fewer than `MIN_WORDS` words (a bare "Hello." or "What?" often opens a longer
  sentence), or a last word that cannot end an English sentence (an article,
  a conjunction, a preposition, a subject pronoun, a possessive, a filler).

The listening stage combines it with Smart Turn (see `pipeline.graph.listen`).
"""

from __future__ import annotations

import re
from typing import Literal

Completeness = Literal["question", "request", "statement", "incomplete"]

MIN_WORDS = 3

_WORD = re.compile(r"[A-Za-z0-9']+")
_TRAILING_ELLIPSIS = re.compile(r"(\.\.|…)[\"')\]]*$")
_DANGLING = frozenset(
    " ".join(
        (
            "a an the",  # articles
            "and or but nor because although though if unless until whereas than which who whose",
            "to of in on at for with from by into onto about between during without",
            "i he she we they my your his our their its",  # subject pronouns, possessives
            "um uh er erm hmm mm",
        )
    ).split()
)
"""Words after which an English sentence goes on. Words that can also end one are left
out: object pronouns ("tell me", "thank you"; "her" is both), "that", "so", "over", "before"."""

REQUEST_VERBS = frozenset(
    " ".join(
        (
            "tell show play read call phone ring remind turn put give bring send text find look check",
            "sing say repeat explain describe help start stop open close set wake let's",
        )
    ).split()
)
"""Verbs that open a command to a companion device."""
_LEAD_INS = frozenset(["please", "now", "okay", "ok", "so", "oh", "well"])
_SENTENCE = re.compile(r"[^.?!]+[.?!]+")


def completeness(text: str) -> Completeness:
    stripped = text.strip().rstrip("\"')]")
    if not stripped or _TRAILING_ELLIPSIS.search(stripped):
        return "incomplete"
    end = stripped[-1]
    if end not in "?.!":
        return "incomplete"
    words = _WORD.findall(stripped)
    if len(words) < MIN_WORDS or words[-1].lower() in _DANGLING:
        return "incomplete"
    if end == "?":
        return "question"
    return "request" if _is_request(stripped) else "statement"


def dangles(text: str) -> bool:
    """The last word is one after which an English sentence must go on ("…to the", "…and", "…my",
    "…um"), whatever punctuation Whisper put after it: the speaker stopped mid-sentence, often
    searching for a word."""
    words = _WORD.findall(text)
    return bool(words) and words[-1].lower() in _DANGLING


def _is_request(text: str) -> bool:
    """The last sentence opens with a request verb, perhaps after a lead-in ("Please, tell me…")."""
    sentences = _SENTENCE.findall(text)
    words = [w.lower() for w in _WORD.findall(sentences[-1] if sentences else text)]
    while words and words[0] in _LEAD_INS:
        words.pop(0)
    return bool(words) and words[0] in REQUEST_VERBS
