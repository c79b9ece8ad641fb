"""Word error rate, for judging transcripts against a fixture's reference text."""

from __future__ import annotations

import re

# Apostrophes stay inside words ("let's"); every other non-alphanumeric is a separator.
_NOT_WORD = re.compile(r"[^a-z0-9']+")


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation: "Hello, how are you?" -> [hello, how, are, you]."""
    text = text.lower().replace("\u2019", "'")
    return [word.strip("'") for word in _NOT_WORD.split(text) if word.strip("'")]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in the reference.

    Case and punctuation are ignored. An empty reference gives 0.0 for an empty
    hypothesis and 1.0 otherwise, so the result is always defined.
    """
    ref = normalise(reference)
    hyp = normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    # Levenshtein distance over words, one row at a time.
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1] / len(ref)
