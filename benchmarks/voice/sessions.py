"""Which turns each device of the voice harness says, and in which device session.

Each device (one of `--concurrency`) says its warm-up turns, then every clip
`repetitions` times, starting at its own place in the list so that devices say
different clips at the same moment. By default that is all one session: one
registered device, or one connection to the stock pipecat bot, for the whole run.

With `per_speaker` (the harness's default on human clips) every speaker gets
sessions of their own, as a person talking to their own device does, so that
what the server learns of one person's pauses is never used on another's: the
warm-up turns in a session before the others, then, per repetition, one session
per set and speaker, speakers in the order they first appear and each one's clips
in manifest order. Clips without a speaker (the fixtures, `--files`) stay
together: one session per set.
"""

from __future__ import annotations

from typing import NamedTuple

from benchmarks.lib.clips import Clip


class PlannedTurn(NamedTuple):
    clip: Clip
    warmup: bool
    """Said first, not counted."""


Session = list[PlannedTurn]
"""The turns of one device session, in order."""


def device_sessions(
    clips: list[Clip], *, device: int, warmup: int, repetitions: int, per_speaker: bool
) -> list[Session]:
    """The sessions device number `device` goes through, each with its turns."""
    start = device % len(clips)
    rotated = clips[start:] + clips[:start]
    warm = [PlannedTurn(rotated[i % len(rotated)], True) for i in range(warmup)]
    if not per_speaker:
        return [warm + [PlannedTurn(clip, False) for clip in rotated * repetitions]]
    groups = speaker_groups(clips)
    first = device % len(groups)
    groups = groups[first:] + groups[:first]
    measured = [[PlannedTurn(clip, False) for clip in group] for _ in range(repetitions) for group in groups]
    return [warm, *measured] if warm else measured


def speaker_groups(clips: list[Clip]) -> list[list[Clip]]:
    """The clips per set and speaker, in the order each first appears; clips keep their order."""
    groups: dict[tuple[str, str | None], list[Clip]] = {}
    for clip in clips:
        groups.setdefault((clip.part, clip.speaker), []).append(clip)
    return list(groups.values())
