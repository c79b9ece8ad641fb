"""A group activity's life after its start: listed, looked at, stopped, from any instance.

The activity lives in the `Store`, so every instance answers for it. Stopping it ends its sessions
at once and sends each participant's live loop back to what it had before: the session it held (if
still live) with its own persona, or else a new session with its own persona (the server's default
if it had none), through the same `SessionStarted` change a new session uses.
"""

from __future__ import annotations

from typing import Any

import msgspec

from personas import PersonaLibrary
from server.errors import ApiError
from server.live.changes import LiveChanges
from server.live.events import SessionEvent
from server.schemas.coordination import ActivityResponse, ActivityStatus
from server.services.clock import utcnow
from server.services.coordination import Coordinator, raise_failures, started_event
from server.settings import Settings
from server.state.base import Store
from server.state.records import ActivityRecord, Return, RuntimeChange, SessionRecord


class ActivityNotFound(ApiError):
    status_code = 404
    error_code = "ACTIVITY_NOT_FOUND"

    def __init__(self, activity_id: str) -> None:
        super().__init__(f"Activity '{activity_id}' does not exist", details={"activity_id": activity_id})


class Activities:
    def __init__(
        self,
        *,
        store: Store,
        coordinator: Coordinator,
        changes: LiveChanges,
        personas: PersonaLibrary,
        settings: Settings,
    ) -> None:
        self._store = store
        self._coordinator = coordinator
        self._changes = changes
        self._personas = personas
        self._settings = settings

    async def list(
        self, *, group_id: str | None, status: ActivityStatus | None, seen_by: str | None
    ) -> list[ActivityRecord]:
        """Oldest start first; for a device (`seen_by`) only the activities it takes part in."""
        return [
            a
            for a in await self._store.list_activities()
            if (group_id is None or a.group_id == group_id)
            and (status is None or a.status == status)
            and (seen_by is None or seen_by in a.device_ids)
        ]

    async def get(self, activity_id: str, *, seen_by: str | None = None) -> ActivityRecord:
        """The activity; for a device (`seen_by`) only one it takes part in: any other is answered as
        one that does not exist (404), so no device learns of another facility's activities."""
        activity = await self._store.get_activity(activity_id)
        if activity is None or (seen_by is not None and seen_by not in activity.device_ids):
            raise ActivityNotFound(activity_id)
        return activity

    async def stop(self, activity_id: str) -> ActivityRecord:
        """Stop the activity: its sessions end now, and every participant still in its activity session
        goes back to its own (`LiveUpdateFailed` if a live loop did not take it; the store has it all).
        Stopping a stopped activity changes nothing."""
        activity = await self.get(activity_id)
        if activity.status == "stopped":
            return activity
        now = utcnow()
        device_ids = activity.device_ids
        ours = [activity.session_ids.get(d, "") for d in device_ids]
        own = await self._store.get_sessions(
            [r.session_id for r in activity.returns.values() if r.session_id]
        )
        own_by_id = {s.session_id: s for s in own if s is not None}
        writes: list[SessionRecord] = [
            msgspec.structs.replace(s, status="ended", ended_at=now)
            for s in await self._store.get_sessions(ours)
            if s is not None and s.status == "active"
        ]
        runtimes: list[RuntimeChange] = []
        events: list[tuple[str, SessionEvent]] = []
        for device_id, ours_id, runtime in zip(
            device_ids, ours, await self._store.get_runtimes(device_ids), strict=True
        ):
            if runtime.active_session_id != ours_id:  # the device has moved on: leave it be
                continue
            back = self._back_to(device_id, activity.returns.get(device_id), own_by_id)
            if back.session_id not in own_by_id:
                writes.append(back)
            own_persona = activity.returns.get(device_id)
            persona_id = own_persona.persona_id if own_persona is not None else None
            runtimes.append(RuntimeChange(device_id, back.session_id, persona_id, last_activity=now))
            events.append((device_id, started_event(back)))
        stopped = msgspec.structs.replace(activity, status="stopped", ended_at=now)
        await self._store.save_activity(stopped, sessions=writes, runtimes=runtimes)
        raise_failures(await self._changes.publish_many(events), events, activity_id)
        return stopped

    def _back_to(self, device_id: str, back: Return | None, own: dict[str, SessionRecord]) -> SessionRecord:
        """The session the device returns to: its own if still live on it, else a new one in its own
        persona (the default if it had none, or one no longer in the library)."""
        session = own.get(back.session_id or "") if back is not None else None
        now = utcnow()
        if (
            session is not None
            and session.device_id == device_id
            and session.status == "active"
            and session.expires_at > now
        ):
            return session
        persona_id = back.persona_id if back is not None else None
        if persona_id is None or persona_id not in self._personas:
            persona_id = self._settings.default_persona_id
        return self._coordinator.new_session(device_id, persona_id)


def view(activity: ActivityRecord) -> ActivityResponse:
    fields: dict[str, Any] = {
        name: getattr(activity, name)
        for name in ActivityResponse.__struct_fields__
        if name in ActivityRecord.__struct_fields__
    }
    return ActivityResponse(**fields)
