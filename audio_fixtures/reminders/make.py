"""Regenerate the reminder confirmation fixtures and their manifest, with the ordinary fixtures'
tools and settings.

.venv/bin/python -m audio_fixtures.reminders.make
"""

from __future__ import annotations

from audio_fixtures.make_fixtures import Spec, make_set
from audio_fixtures.reminders import REMINDER_FIXTURES_DIR, REMINDER_MANIFEST_PATH

SPECS: tuple[Spec, ...] = (
    Spec("yes_took_it", ("Yes, I took it.",), "piper", "joe", 1.0, "confirms"),
    Spec("i_have_done_it", ("I have done it already.",), "espeak", "en-us", 150, "confirms"),
)


def main() -> None:
    make_set(SPECS, REMINDER_FIXTURES_DIR, REMINDER_MANIFEST_PATH)


if __name__ == "__main__":
    main()
