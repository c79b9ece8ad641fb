"""Synchronised playback (§8.7): a media item of the library played on every device from one instant.

At the start, and at each pause or resume, the server picks an instant far enough ahead for the
slowest device (`COMPANION_PLAYBACK_LEAD_S`, or four of its measured round trips if more) and tells
each device that instant on its own clock (server/media/cue.py). What the playback is doing lives
with the activity in the `Store`, so any instance pauses or resumes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import msgspec

from server.errors import Conflict
from server.media.cue import Playback, PlaybackAction, PlaybackState, cue
from server.media.timing import lead, signer
from server.schemas.common import RequestBody
from server.services.activities import Activities
from server.services.clock import utcnow
from server.services.commands import CommandService
from server.settings import Settings
from server.state.base import Bus, Store
from server.state.records import ActivityRecord, CommandDelivery, CommandRecord, Presence
from server.ws.commands import PlaybackControl

_EVENTS: dict[PlaybackAction, Literal["playback_pause", "playback_resume", "playback_stop"]] = {
    "pause": "playback_pause",
    "resume": "playback_resume",
    "stop": "playback_stop",
}
_STATES: dict[PlaybackAction, PlaybackState] = {"pause": "paused", "resume": "playing", "stop": "stopped"}


class PlaybackRequest(RequestBody):
    action: PlaybackAction


class PlaybackResponse(msgspec.Struct, kw_only=True):
    activity_id: str
    media: str
    state: PlaybackState
    at: datetime
    """The server instant every device does it (each got it on its own clock too)."""
    position_s: float
    """Where in the item the playback stands from `at`."""


class Playbacks:
    def __init__(
        self, *, store: Store, bus: Bus, activities: Activities, commands: CommandService, settings: Settings
    ) -> None:
        self._store = store
        self._bus = bus
        self._activities = activities
        self._commands = commands
        self._settings = settings

    async def control(self, activity_id: str, action: PlaybackAction) -> PlaybackResponse:
        """Pause, resume or stop every device at one instant; stopping also stops the activity.
        `Conflict` for an activity that is not a running playback, or a change that changes nothing."""
        activity = await self._activities.get(activity_id)
        playback = activity.playback
        if activity.status != "running" or playback is None:
            raise Conflict(
                "Only a running sync_playback activity can be paused, resumed or stopped this way",
                details={"reason": "not_running_playback", "activity_id": activity_id},
            )
        if (action == "pause" and playback.state != "playing") or (
            action == "resume" and playback.state != "paused"
        ):
            raise Conflict(
                f"The playback is {playback.state}: it cannot {action}",
                details={"reason": "playback_state", "state": playback.state, "action": action},
            )
        changed = await self._change(activity, playback, action)
        if action == "stop":
            await self._activities.stop(activity_id)
        return PlaybackResponse(
            activity_id=activity_id,
            media=changed.media,
            state=changed.state,
            at=changed.at,
            position_s=changed.position_s,
        )

    async def stop_playing(self, activity_id: str) -> None:
        """Before the activity's own stop (`POST .../stop`): a playback still running is stopped on
        every device too (`playback_stop`); anything else is left to that stop."""
        activity = await self._activities.get(activity_id)
        playback = activity.playback
        if activity.status == "running" and playback is not None and playback.state != "stopped":
            await self._change(activity, playback, "stop")

    async def _change(self, activity: ActivityRecord, playback: Playback, action: PlaybackAction) -> Playback:
        """The playback's new state, at an instant every device can make: kept, and sent to each."""
        presences = await self._store.get_presences(activity.device_ids)
        at = utcnow() + lead(presences, self._settings)
        changed = Playback(
            media=playback.media, state=_STATES[action], at=at, position_s=playback.position_at(at)
        )
        commands = self._commands_for(activity, changed, _EVENTS[action], presences)
        updated = msgspec.structs.replace(activity, playback=changed)
        await self._store.save_activity(updated, commands=commands, command_ttl_s=self._commands.ttl_s)
        await self._bus.send_many([(c.device_id, CommandDelivery(command=c)) for c in commands])
        return changed

    def _commands_for(
        self,
        activity: ActivityRecord,
        playback: Playback,
        event: Literal["playback_pause", "playback_resume", "playback_stop"],
        presences: Sequence[Presence | None],
    ) -> list[CommandRecord]:
        url = signer(self._settings).path(playback.media)
        return [
            CommandService.make(
                device_id,
                PlaybackControl(
                    event_type=event,
                    activity_id=activity.activity_id,
                    playback=cue(playback, url, None if presence is None else presence.clock),
                ),
            )
            for device_id, presence in zip(activity.device_ids, presences, strict=True)
        ]
