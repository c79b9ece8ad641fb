"""The `Stage` of a game on real devices (server/activities/stage.py says what each step does)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from server.errors import ApiError
from server.events.hub import EventHub
from server.live.changes import LiveChanges, new_event_id
from server.live.events import Announcement, SessionEvent
from server.services.activities import Activities
from server.services.clock import utcnow
from server.services.commands import CommandService
from server.state.base import Bus, Store
from server.state.records import BusMessage, CommandDelivery
from server.ws.commands import BroadcastEvent

log = logging.getLogger(__name__)

QUIET_POLL_S = 0.25
START_WITHIN_S = 15.0
"""How long a line may take to start (its speech synthesised) before the game goes on without it."""
QUIET_MAX_S = 30.0
"""How much longer than expected a line may take to be said before the game goes on."""
NO_VOICE_PAUSE_S = 1.0
PROGRESS_FIELDS = frozenset({"round", "rounds", "number", "chapter", "story_id", "answer", "chosen"})
"""What of a step's `sync_event` goes on the operator event stream (never what a resident said)."""


class LiveStage:
    def __init__(
        self,
        *,
        store: Store,
        bus: Bus,
        commands: CommandService,
        changes: LiveChanges,
        activities: Activities,
        events: EventHub,
        voice_enabled: bool,
    ) -> None:
        self._store = store
        self._bus = bus
        self._commands = commands
        self._changes = changes
        self._activities = activities
        self._events = events
        self._voice_enabled = voice_enabled

    def now(self) -> datetime:
        return utcnow()

    async def sleep_until(self, when: datetime) -> None:
        delay = (when - utcnow()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)

    async def connected(self, device_ids: Sequence[str]) -> list[str]:
        presences = await self._store.get_presences(device_ids)
        return [d for d, p in zip(device_ids, presences, strict=True) if p is not None]

    async def cue(self, device_ids: Sequence[str], event_type: str, fields: dict[str, Any]) -> None:
        payload = BroadcastEvent(fields=fields, event_type=event_type, event_id=f"evt_{secrets.token_hex(8)}")
        commands = [self._commands.make(d, payload) for d in device_ids]
        await self._store.save_commands(commands, self._commands.ttl_s)
        messages: list[tuple[str, BusMessage]] = [(c.device_id, CommandDelivery(command=c)) for c in commands]
        await self._bus.send_many(messages)
        # Each step is on the operator event stream too: an `activity` event, its state the event type.
        detail: dict[str, Any] = {
            k: v for k, v in fields.items() if k in PROGRESS_FIELDS and isinstance(v, str | int)
        }
        group_id = fields.get("group_id")
        self._events.activity(
            str(fields["activity_id"]),
            event_type,
            group_id=group_id if isinstance(group_id, str) else None,
            **detail,
        )

    async def say(self, device_ids: Sequence[str], text: str, *, interrupt: bool) -> None:
        if not self._voice_enabled:  # no live voice loop to speak: the sync_event carries the words
            return
        lines: list[tuple[str, SessionEvent]] = [
            (d, Announcement(event_id=new_event_id(), session_id="", text=text, interrupt=interrupt))
            for d in device_ids
        ]
        failed = {d: r for d, r in (await self._changes.publish_many(lines)).items() if r is not None}
        if failed:  # a device that missed a line still gets the next; its sync_event has the words
            log.warning("activity line not taken by %d device(s)", len(failed))

    async def quiet(self, device_ids: Sequence[str], *, expect_s: float) -> None:
        if not self._voice_enabled:  # nothing is said: a moment between cues is enough
            await asyncio.sleep(NO_VOICE_PAUSE_S)
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Polled: a device's reply starts and ends on the instance holding its socket; its presence says so.
        while not await self._any_busy(device_ids):
            if loop.time() - started > min(expect_s, START_WITHIN_S):
                return  # never started (a device that missed it, or said it in a blink)
            await asyncio.sleep(QUIET_POLL_S)
        while await self._any_busy(device_ids) and loop.time() - started < expect_s + QUIET_MAX_S:  # noqa: ASYNC110  # polled, as above
            await asyncio.sleep(QUIET_POLL_S)

    async def _any_busy(self, device_ids: Sequence[str]) -> bool:
        presences = await self._store.get_presences(device_ids)
        return any(p is not None and p.status == "busy" for p in presences)

    async def finish(self, activity_id: str) -> None:
        try:
            await self._activities.stop(activity_id)
        except ApiError as error:  # stopped in the store; a live loop that missed it follows on reconnect
            log.warning("activity %s: stop not applied everywhere (%s)", activity_id, error.error_code)
