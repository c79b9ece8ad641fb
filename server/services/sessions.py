"""Sessions: a device's conversation with one persona, expiring after a quiet spell."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from personas import PersonaLibrary
from server.errors import ApiError, Conflict, Forbidden, PersonaNotFound, SessionExpired, SessionNotFound
from server.live.changes import LiveChanges, new_event_id
from server.live.events import HandedOffFrom, HandedOffTo, SessionEnded, SessionStarted
from server.ratelimit import RateLimiter
from server.schemas.sessions import SessionResponse
from server.services.clock import utcnow
from server.services.devices import DeviceService
from server.settings import Settings
from server.state.base import Store
from server.state.records import SessionRecord


class TooManySessions(ApiError):
    """The device has as many open sessions as it may: one must end (or time out) first."""

    status_code = 409
    error_code = "TOO_MANY_SESSIONS"

    def __init__(self, device_id: str, *, open_sessions: int, limit: int) -> None:
        super().__init__(
            f"Device '{device_id}' has {open_sessions} open sessions, the most it may have: "
            "end one (DELETE /sessions/{session_id}) or let it time out first",
            details={"device_id": device_id, "open_sessions": open_sessions, "limit": limit},
        )


class SessionService:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        personas: PersonaLibrary,
        settings: Settings,
        changes: LiveChanges,
        limiter: RateLimiter,
    ) -> None:
        self._limiter = limiter
        self._store = store
        self._devices = devices
        self._personas = personas
        self._settings = settings
        self._changes = changes

    def require_persona(self, persona_id: str) -> None:
        if persona_id not in self._personas:
            raise PersonaNotFound(persona_id)

    async def create(
        self,
        *,
        device_id: str,
        persona_id: str,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        activity_id: str | None = None,
    ) -> SessionRecord:
        """A new session, which becomes the device's active one with its persona: a connected device's
        very next turn is answered in it, with a fresh conversation (`LiveUpdateFailed` if its live
        session could not take it).

        A device opens at most `sessions_per_device_per_hour` (429) and has at most
        `max_open_sessions_per_device` open at once (409 `TOO_MANY_SESSIONS`); a group activity's
        sessions (`activity_id`) are counted, never refused.
        """
        if activity_id is None:
            await self._check_room(device_id)
        session = await self._open(
            device_id=device_id, persona_id=persona_id, user_id=user_id, metadata=metadata
        )
        await self._changes.publish(
            device_id,
            SessionStarted(
                event_id=new_event_id(),
                session_id=session.session_id,
                persona_id=persona_id,
                activity_id=activity_id,
            ),
        )
        return session

    async def _check_room(self, device_id: str) -> None:
        """`TooManySessions` if the device is at its open sessions; then count the new one (per hour)."""
        await self._devices.get(device_id)
        now = utcnow()
        limit = self._settings.max_open_sessions_per_device
        open_now = sum(
            1
            for s in await self._store.list_sessions(device_id)
            if s.status == "active" and s.expires_at > now
        )
        if open_now >= limit:
            raise TooManySessions(device_id, open_sessions=open_now, limit=limit)
        await self._limiter.check_session_creation(device_id)

    async def _open(
        self,
        *,
        device_id: str,
        persona_id: str,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> SessionRecord:
        """A new session in the store, the device's active one with its persona."""
        await self._devices.get(device_id)
        self.require_persona(persona_id)
        now = utcnow()
        session = SessionRecord(
            session_id=f"sess_{secrets.token_hex(8)}",
            device_id=device_id,
            persona_id=persona_id,
            user_id=user_id,
            metadata=metadata or {},
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.session_ttl_s),
        )
        await self._store.add_session(session)
        await self._store.update_runtime(
            device_id, active_session_id=session.session_id, active_persona_id=persona_id, last_activity=now
        )
        return session

    async def get(self, session_id: str, *, device_id: str | None = None) -> SessionRecord:
        """The session; with `device_id`, only if it is on that device. `SessionNotFound` (404) otherwise:
        the same answer for another device's session as for none, so no device learns another's ids."""
        session = await self._store.get_session(session_id)
        if session is None or (device_id is not None and session.device_id != device_id):
            raise SessionNotFound(session_id)
        return session

    async def require_live(self, session_id: str, *, device_id: str | None = None) -> SessionRecord:
        """The session (as `get`) if it can take turns; `SessionExpired` (410) if it ended or expired."""
        session = await self.get(session_id, device_id=device_id)
        if session.status == "ended":
            raise SessionExpired(session_id, reason="ended")
        if session.expires_at <= utcnow():
            raise SessionExpired(session_id, reason="expired")
        return session

    async def current_for_device(self, device_id: str) -> SessionRecord:
        """The device's active session if it is live, else a new one with the device's persona."""
        runtime = await self._store.get_runtime(device_id)
        if runtime.active_session_id:
            session = await self._store.get_session(runtime.active_session_id)
            if session and session.status == "active" and session.expires_at > utcnow():
                return session
        persona_id = runtime.active_persona_id or self._settings.default_persona_id
        if persona_id not in self._personas:
            persona_id = self._settings.default_persona_id
        return await self._open(device_id=device_id, persona_id=persona_id)

    async def extend(self, session: SessionRecord) -> SessionRecord:
        """Push the session's expiry out by a full TTL after a turn."""
        renewed = msgspec.structs.replace(
            session, expires_at=utcnow() + timedelta(seconds=self._settings.session_ttl_s)
        )
        await self._store.replace_session(renewed)
        return renewed

    async def set_persona(
        self, session: SessionRecord, persona_id: str, *, preserve_context: bool
    ) -> SessionRecord:
        updated = msgspec.structs.replace(session, persona_id=persona_id)
        await self._store.replace_session(updated)
        if not preserve_context:
            await self._store.clear_context(session.session_id)
        return updated

    async def end(self, session_id: str) -> SessionRecord:
        """End the session; the device it is on stops talking in it and forgets its conversation."""
        session = await self.get(session_id)
        if session.status == "ended":
            return session
        ended = msgspec.structs.replace(session, status="ended", ended_at=utcnow())
        await self._store.replace_session(ended)
        runtime = await self._store.get_runtime(session.device_id)
        if runtime.active_session_id == session_id:
            await self._store.update_runtime(session.device_id, active_session_id=None)
        await self._changes.publish(
            session.device_id, SessionEnded(event_id=new_event_id(), session_id=session_id, reason="ended")
        )
        return ended

    async def list(self, device_id: str | None = None) -> list[SessionRecord]:
        return await self._store.list_sessions(device_id)

    async def handoff(
        self,
        session_id: str,
        *,
        from_device_id: str,
        to_device_id: str,
        notify_user: bool = True,
        seen_by: str | None = None,
    ) -> SessionRecord:
        """Move a live session, its persona and context to another device.

        The source device stops talking at once and forgets the conversation; the target answers
        its very next turn in the session's persona, with its context. With `notify_user` each
        says one short line. A target that is not connected finds the session when it connects
        (while the session is live). For a device (`seen_by`), another device's session is not found
        (404); an operator is told it is not on `from_device_id` (409), never which device holds it.
        """
        session = await self.require_live(session_id, device_id=seen_by)
        if session.device_id != from_device_id:
            raise Conflict(
                f"Session '{session_id}' is not on device '{from_device_id}'",
                details={"session_id": session_id, "from_device_id": from_device_id},
            )
        await self._devices.get(from_device_id)
        target = await self._devices.get(to_device_id)
        moved = await self.extend(msgspec.structs.replace(session, device_id=to_device_id))
        source = await self._store.get_runtime(from_device_id)
        if source.active_session_id == session_id:
            await self._store.update_runtime(from_device_id, active_session_id=None)
        await self._store.update_runtime(
            to_device_id,
            active_session_id=session_id,
            active_persona_id=session.persona_id,
            last_activity=utcnow(),
        )
        await self._changes.publish(
            from_device_id,
            HandedOffFrom(
                event_id=new_event_id(),
                session_id=session_id,
                to_device_id=to_device_id,
                to_place=target.location or target.name,
                persona_id=session.persona_id,
                notify_user=notify_user,
            ),
        )
        await self._changes.publish(
            to_device_id,
            HandedOffTo(
                event_id=new_event_id(),
                session_id=session_id,
                from_device_id=from_device_id,
                persona_id=session.persona_id,
                notify_user=notify_user,
            ),
        )
        return moved

    @staticmethod
    def status_of(session: SessionRecord, now: datetime) -> Literal["active", "ended", "expired"]:
        """The session's status as the API shows it at `now` (an active one past its expiry: expired)."""
        if session.status == "active" and session.expires_at <= now:
            return "expired"
        return session.status

    async def check_device_handoff(self, session_id: str, *, from_device_id: str, to_device_id: str) -> None:
        """What a device token may hand off (an operator may hand off any live session, to any device):
        only its own active session, only to another device of its own group (`group_id`, which only
        an operator sets), and only to a device not in a live conversation of its own, so that no
        device can put a persona or a conversation into a loop someone else is talking to.

        Called for a device's own request before `handoff`; a session that is not the device's, or not
        live, is left to `handoff` to refuse as it does for anyone."""
        session = await self._store.get_session(session_id)
        if session is None or session.device_id != from_device_id or not _live(session):
            return
        if (await self._store.get_runtime(from_device_id)).active_session_id != session_id:
            raise Forbidden(
                "A device hands off only its own active session",
                details={"reason": "not_active_session", "session_id": session_id},
            )
        source = await self._devices.get(from_device_id)
        target = await self._devices.get(to_device_id)
        if source.group_id is None or source.group_id != target.group_id:
            raise Forbidden(
                "A device hands off only to a device of its own group; an operator may hand off anywhere",
                details={"reason": "other_group", "to_device_id": to_device_id},
            )
        held = (await self._store.get_runtime(to_device_id)).active_session_id
        current = await self._store.get_session(held) if held and held != session_id else None
        if current is not None and _live(current):
            raise Conflict(
                "The target device is in a conversation of its own; an operator may still hand off to it",
                details={"reason": "target_in_session", "to_device_id": to_device_id},
            )

    async def view(self, session: SessionRecord) -> SessionResponse:
        status = self.status_of(session, utcnow())
        turns = len(await self._store.get_context(session.session_id))
        return SessionResponse(
            session_id=session.session_id,
            device_id=session.device_id,
            persona_id=session.persona_id,
            user_id=session.user_id,
            metadata=session.metadata,
            status=status,
            created_at=session.created_at,
            expires_at=session.expires_at,
            ended_at=session.ended_at,
            turns=turns,
        )


def _live(session: SessionRecord) -> bool:
    return session.status == "active" and session.expires_at > utcnow()
