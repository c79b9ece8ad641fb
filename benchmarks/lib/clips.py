"""The user turns the voice benchmarks speak: WAV files, the committed fixtures, the human clips.

Every clip is 16 kHz int16 mono with where its speech ends (the end of the last
10 ms frame above -45 dBFS, the rule `audio_fixtures.make_fixtures` uses for
the manifest), its reference text when known, and for the human clips
(`audio_fixtures.human`) the labelled end of the turn and the speaker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
import numpy as np

from audio_fixtures import SAMPLE_RATE, load_fixtures, load_manifest
from audio_fixtures.human import HUMAN_DIR, Part, clips_of
from audio_fixtures.make_fixtures import active_frames, speech_end_s
from benchmarks.lib.microphone import Int16
from pipeline.audio import pcm16_from_wav, resample

ClipPart = Literal["fixtures", "human-dev", "human-held-out", "human-natural", "files"]
PARTS: tuple[ClipPart, ...] = ("fixtures", "human-dev", "human-held-out", "human-natural")
"""The clip sets `--clips` names: the synthetic fixtures and the three parts of the human set."""
HUMAN_PART: dict[ClipPart, Part] = {
    "human-dev": "dev",
    "human-held-out": "held_out",
    "human-natural": "natural",
}


class Clip(msgspec.Struct, frozen=True):
    """A user turn to speak: 16 kHz int16 mono, where its speech ends, and what it says when known."""

    name: str
    pcm: Int16
    speech_end_s: float | None
    """None when no 10 ms frame is above the threshold: the whole file is silence."""
    reference: str | None = None
    turn_end_s: float | None = None
    """Where the person's turn truly ends (labelled); None: at `speech_end_s`."""
    part: ClipPart = "files"
    speaker: str | None = None
    """Who speaks (the human clips' `speaker`); None for synthetic speech and files."""

    @property
    def end_s(self) -> float:
        """The end of the turn: the label, else the end of speech, else the end of the file."""
        if self.turn_end_s is not None:
            return self.turn_end_s
        return self.speech_end_s if self.speech_end_s is not None else len(self.pcm) / SAMPLE_RATE

    @property
    def end_sample(self) -> int:
        return min(len(self.pcm), round(self.end_s * SAMPLE_RATE))


def find_speech_end(pcm: Int16) -> float | None:
    """Seconds into `pcm` (16 kHz) where the last 10 ms frame above -45 dBFS ends; None for silence."""
    if len(active_frames(pcm.astype(np.float32) / 32768.0)) == 0:
        return None
    return speech_end_s(pcm)


def load_clips(paths: list[Path] | None = None) -> list[Clip]:
    """The given WAV files (any supported rate, resampled to 16 kHz), or every committed fixture.

    A file's reference text comes from the fixtures' manifest (by file name) or
    from a `.txt` file beside it; without either, no WER is computed for it.
    """
    if not paths:
        return [Clip(f.name, f.pcm, find_speech_end(f.pcm), f.text) for f in load_fixtures()]
    known = {Path(e.file).stem: e.text for e in load_manifest()}
    return [_clip_from_file(path, known) for path in paths]


def load_parts(parts: list[ClipPart]) -> list[Clip]:
    """The clips of each named part, in order: `fixtures`, `human-dev`, `human-held-out`, `human-natural`."""
    clips: list[Clip] = []
    for part in parts:
        if part == "fixtures":
            clips += [msgspec.structs.replace(c, part="fixtures") for c in load_clips()]
            continue
        for entry in clips_of(HUMAN_PART[part]):
            clip = _clip_from_file(HUMAN_DIR / entry.file, {})
            clips.append(
                msgspec.structs.replace(
                    clip,
                    reference=entry.transcript,
                    turn_end_s=entry.turn_end_s,
                    part=part,
                    speaker=entry.speaker,
                )
            )
    return clips


def _clip_from_file(path: Path, known: dict[str, str]) -> Clip:
    pcm, rate = pcm16_from_wav(path.read_bytes())
    if rate != SAMPLE_RATE:
        pcm = resample(pcm, rate, SAMPLE_RATE)
    sidecar = path.with_suffix(".txt")
    reference = sidecar.read_text().strip() if sidecar.exists() else known.get(path.stem)
    return Clip(path.stem, pcm, find_speech_end(pcm), reference)
