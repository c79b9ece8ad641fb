"""What one run of the voice harness does: the target, the clips, how many devices and turns."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.lib.clips import Clip
from benchmarks.lib.targets import TargetKind


@dataclass(frozen=True, kw_only=True)
class HarnessConfig:
    base_url: str
    token: str
    clips: list[Clip]
    repetitions: int = 1
    concurrency: int = 1
    persona: str | None = None
    warmup: int = 1
    """Turns per device said first and not counted."""
    reply_timeout_s: float = 15.0
    """From the end of an utterance to the first reply audio; longer is a failure."""
    progress: bool = True
    no_reply_ok: bool = False
    """A clip with no reply is counted (`--clips`), not a failed run."""
    target: TargetKind = "ours"
    session_per_speaker: bool = False
    """Each speaker's clips in device sessions of their own (`benchmarks.voice.sessions`)."""
    """What `base_url` is: this server (`token` an operator token) or the stock pipecat bot (no token)."""
