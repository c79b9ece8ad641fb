"""Whether what a resident said confirms a reminder: `confirms(text)`.

A short turn (at most `MAX_WORDS` words) that says it is done ("yes", "yes, I took it", "done",
"I have", "I did it", "taken", "finished") and says nothing against it ("no", "not yet", "I haven't",
"I didn't", "later"). Read as the ASR writes it: case, punctuation and apostrophes do not matter
("I've" reads as "I have", "didnt" as "didn't"). A longer turn is conversation, not an answer.
"""

from __future__ import annotations

import re

MAX_WORDS = 10
YES_WORDS = frozenset({"yes", "yeah", "yep", "yup", "done", "took", "taken", "finished", "completed"})
"""Words that on their own say it is done."""
I_DID = frozenset({("i", "have"), ("i", "did"), ("ive", "had"), ("i", "had")})
""""I have", "I did" confirm at the end of the turn or before `ITS` ("I have a headache" does not)."""
ITS = frozenset({"it", "that", "them", "already", "so"})
NO_WORDS = frozenset(
    {
        "no",
        "not",
        "nope",
        "didnt",
        "havent",
        "hasnt",
        "dont",
        "wont",
        "cant",
        "never",
        "later",
        "forgot",
        "what",
        "why",
        "when",
    }
)
"""Any of these makes the turn no confirmation (a refusal, a "not yet", a question)."""
_WORD = re.compile(r"[a-z]+")


def words_of(text: str) -> list[str]:
    """Lower case, apostrophes dropped (ASR writes "didn't", "didnt" or with a typographic apostrophe)."""
    return _WORD.findall(text.lower().replace("'", "").replace("\u2019", ""))


def confirms(text: str) -> bool:
    words = words_of(text)
    if not words or len(words) > MAX_WORDS or NO_WORDS.intersection(words):
        return False
    if YES_WORDS.intersection(words):
        return True
    if tuple(words[-2:]) in I_DID:
        return True
    return any((a, b) in I_DID and c in ITS for a, b, c in zip(words, words[1:], words[2:], strict=False))
