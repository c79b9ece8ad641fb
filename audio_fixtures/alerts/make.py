"""Regenerate the alert fixtures and their manifest, with the ordinary fixtures' tools and settings.

.venv/bin/python -m audio_fixtures.alerts.make
"""

from __future__ import annotations

from audio_fixtures.alerts import ALERT_FIXTURES_DIR, ALERT_MANIFEST_PATH
from audio_fixtures.make_fixtures import Spec, make_set

SPECS: tuple[Spec, ...] = (
    Spec("fell_kitchen", ("I fell in the kitchen and I can't get up.",), "piper", "joe", 1.0, "rule fall"),
    Spec(
        "chest_pain",
        ("Please help me, I have a terrible pain in my chest.",),
        "espeak",
        "en-us",
        150,
        "rule chest_pain (and pain)",
    ),
    Spec("did_not_fall", ("I did not fall, I just sat down to rest.",), "espeak", "en-gb", 150, "no alert"),
)


def main() -> None:
    make_set(SPECS, ALERT_FIXTURES_DIR, ALERT_MANIFEST_PATH)


if __name__ == "__main__":
    main()
