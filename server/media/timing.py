"""When devices act on a playback, and what each start command carries (no service imports: the
coordinator's start uses it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from server.media.cue import Playback, PlaybackCue, cue, playback_config
from server.media.library import MediaLibrary, MediaNotFound, MediaUrlSigner
from server.settings import Settings
from server.state.records import Presence

DELAYS_OF_LEAD = 4
"""The lead covers this many round trips of the slowest device, when that is more than the setting."""


def lead(presences: Sequence[Presence | None], settings: Settings) -> timedelta:
    """How far ahead devices act: the setting, or more if the slowest measured round trip needs it."""
    delays = [p.clock.delay_ms for p in presences if p is not None and p.clock is not None]
    slowest_s = max(delays, default=0.0) / 1000
    return timedelta(seconds=max(settings.playback_lead_s, DELAYS_OF_LEAD * slowest_s))


def first_playback(config: dict[str, Any], settings: Settings, starts_at: datetime) -> Playback:
    """The playback an activity starts with; `MediaNotFound` (404) for an item the library lacks."""
    parsed = playback_config(dict(config))
    if parsed.media is None:
        raise MediaNotFound(None)
    MediaLibrary(settings.media_dir).item(parsed.media)
    return Playback(media=parsed.media, state="playing", at=starts_at, position_s=parsed.position_s)


def signer(settings: Settings) -> MediaUrlSigner:
    return MediaUrlSigner(secret=settings.jwt_secret, ttl_s=settings.media_url_ttl_s)


def start_cues(
    playback: Playback | None, presences: Sequence[Presence | None], settings: Settings
) -> list[PlaybackCue | None]:
    """Each device's cue for the start of a playback (None for every device of another activity)."""
    if playback is None:
        return [None for _ in presences]
    url = signer(settings).path(playback.media)
    return [cue(playback, url, None if p is None else p.clock) for p in presences]
