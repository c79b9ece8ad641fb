"""Which clips the voice harness says in which device session: one session per device, or, on human
clips, one per set and speaker (`--session-per-speaker`)."""

from __future__ import annotations

import numpy as np

from benchmarks.lib.clips import Clip, ClipPart
from benchmarks.voice.sessions import Session, device_sessions


def clip(name: str, part: ClipPart, speaker: str | None = None) -> Clip:
    return Clip(name, np.zeros(160, dtype=np.int16), 0.01, part=part, speaker=speaker)


DEV = [clip("a1", "human-dev", "ann"), clip("b1", "human-dev", "bob"), clip("a2", "human-dev", "ann")]
HELD_OUT = [clip("b2", "human-held-out", "bob"), clip("a3", "human-held-out", "ann")]
FIXTURES = [clip("hello", "fixtures"), clip("thanks", "fixtures")]


def said(sessions: list[Session]) -> list[list[str]]:
    return [
        [("warm-up " if turn.warmup else "") + turn.clip.name for turn in session] for session in sessions
    ]


def test_each_speaker_of_each_set_has_a_session_of_their_own_in_manifest_order() -> None:
    sessions = device_sessions(
        [*DEV, *HELD_OUT, *FIXTURES], device=0, warmup=1, repetitions=1, per_speaker=True
    )

    assert said(sessions) == [
        ["warm-up a1"],
        ["a1", "a2"],
        ["b1"],
        ["b2"],
        ["a3"],
        ["hello", "thanks"],
    ]


def test_each_repetition_opens_new_sessions() -> None:
    sessions = device_sessions(DEV, device=0, warmup=0, repetitions=2, per_speaker=True)

    assert said(sessions) == [["a1", "a2"], ["b1"], ["a1", "a2"], ["b1"]]


def test_devices_talking_at_once_start_with_different_speakers() -> None:
    sessions = device_sessions(DEV, device=1, warmup=1, repetitions=1, per_speaker=True)

    assert said(sessions) == [["warm-up b1"], ["b1"], ["a1", "a2"]]


def test_without_it_every_turn_of_a_device_is_one_session_as_before() -> None:
    sessions = device_sessions([*DEV, *FIXTURES], device=1, warmup=2, repetitions=1, per_speaker=False)

    assert said(sessions) == [["warm-up b1", "warm-up a2", "b1", "a2", "hello", "thanks", "a1"]]
