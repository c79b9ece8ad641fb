"""Regenerate the answer fixtures and their manifest, with the ordinary fixtures' tools and settings.

.venv/bin/python -m audio_fixtures.answers.make
"""

from __future__ import annotations

from audio_fixtures.answers import ANSWER_FIXTURES_DIR, ANSWER_MANIFEST_PATH
from audio_fixtures.make_fixtures import Spec, make_set

SPECS: tuple[Spec, ...] = (
    Spec("paris", ("I think it's Paris.",), "piper", "joe", 1.0, "right: capital of France (geo-e1)"),
    Spec("london", ("London.",), "espeak", "en-gb", 150, "wrong: capital of France"),
    Spec("eight", ("Eight.",), "piper", "joe", 1.0, "right: a spider's legs (nat-e1)"),
    Spec("six_legs", ("It has six legs.",), "espeak", "en-us", 150, "wrong: a spider's legs"),
    Spec("the_river", ("The river, please.",), "piper", "joe", 1.0, "a vote: the train story's first choice"),
    Spec("river", ("Along the river.",), "espeak", "en-gb", 150, "a vote: the train story's first choice"),
)


def main() -> None:
    make_set(SPECS, ANSWER_FIXTURES_DIR, ANSWER_MANIFEST_PATH)


if __name__ == "__main__":
    main()
