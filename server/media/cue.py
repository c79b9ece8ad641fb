"""What a synchronised playback is doing, as the store keeps it and as each device is told it.

The server's clock rules: the state changes at a server instant (`at`), and each device is told that
instant on its own clock (the server's plus its estimated offset, server/media/clock.py), with the
estimate's uncertainty. A device whose clock has not been measured gets the server's time only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.media.clock import ClockEstimate
from server.media.library import NAME

PlaybackState = Literal["playing", "paused", "stopped"]
PlaybackAction = Literal["pause", "resume", "stop"]


class PlaybackConfig(msgspec.Struct, frozen=True):
    """A `sync_playback` activity's `config`. Other keys are left to the devices (a screen's title,
    say): the config goes to each device as given."""

    media: Annotated[str, msgspec.Meta(pattern=f"^{NAME.pattern}$")] | None = None
    """A file name of the media library (`GET /v1/media`); a start without one is refused as media
    the library lacks (404 `MEDIA_NOT_FOUND`, like any name it does not hold)."""
    position_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    """Where in the item playback starts."""


class Playback(msgspec.Struct, frozen=True, kw_only=True):
    """The playback of an activity, in the store: at server instant `at` it was at `position_s`, and
    went on playing from there, or stood there (paused), or ended."""

    media: str
    state: PlaybackState
    at: datetime
    position_s: float

    def position_at(self, when: datetime) -> float:
        if self.state != "playing":
            return self.position_s
        return self.position_s + max(0.0, (when - self.at).total_seconds())


class PlaybackCue(msgspec.Struct, frozen=True, kw_only=True):
    """What one device is told: do `state` at `at` (server time) = `device_at_ms` on its own clock."""

    media: str
    media_url: str
    """A pre-signed path on this server (join it to the server's URL), valid `COMPANION_MEDIA_URL_TTL_S`."""
    state: PlaybackState
    position_s: float
    at: str
    """The server's instant, ISO 8601."""
    at_ms: float
    """The same, in ms since the Unix epoch on the server's clock."""
    device_at_ms: float | None
    """The same instant on the device's own clock (ms since the epoch); null if its clock is unmeasured."""
    uncertainty_ms: float | None
    """How far `device_at_ms` may be off (half the round trip it was measured with)."""


def cue(playback: Playback, media_url: str, clock: ClockEstimate | None) -> PlaybackCue:
    at_ms = playback.at.timestamp() * 1000
    return PlaybackCue(
        media=playback.media,
        media_url=media_url,
        state=playback.state,
        position_s=playback.position_s,
        at=playback.at.isoformat(),
        at_ms=at_ms,
        device_at_ms=None if clock is None else at_ms + clock.offset_ms,
        uncertainty_ms=None if clock is None else clock.uncertainty_ms,
    )


def playback_config(config: dict[str, Any]) -> PlaybackConfig:
    """The config, or `ValueError` naming what is wrong (a request body's 422)."""
    try:
        return msgspec.convert(config, PlaybackConfig)
    except msgspec.ValidationError as exc:
        raise ValueError(f"config: {exc}") from None
