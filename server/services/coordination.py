"""Multi-device coordination (§8.7): starting group activities and broadcasting, inside one facility.

A facility is a device group (`group_id`). An activity's devices, and a broadcast's targets, are
all of one group: `["all"]` needs a `group_id`, and a list that mixes groups (or names a device
outside the given one) is refused with 409 `CONFLICT` before anything is written or sent.

Both fan out over their devices in batches, whatever their number: the store's reads and
writes in one round trip each (`Store.get_devices`, `save_activity`, ...), the bus's publishes in
one (`Bus.send_many`), the live sessions' answers awaited together (`LiveChanges.publish_many`).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from server.errors import Conflict, DeviceNotFound, DeviceOffline
from server.live.changes import LiveChanges, LiveUpdateFailed, new_event_id
from server.live.events import Announcement, SessionEvent, SessionStarted
from server.media.cue import PlaybackCue
from server.media.timing import first_playback, lead, start_cues
from server.schemas.coordination import (
    ALL,
    INTERRUPT_PRIORITY,
    BroadcastRequest,
    BroadcastResponse,
    GroupActivityRequest,
    GroupActivityResponse,
)
from server.services.clock import utcnow
from server.services.commands import CommandService
from server.services.sessions import SessionService
from server.settings import Settings
from server.state.base import Bus, Store
from server.state.records import (
    ActivityRecord,
    BusMessage,
    CommandDelivery,
    CommandRecord,
    DeviceRecord,
    Return,
    RuntimeChange,
    SessionRecord,
)
from server.ws.commands import BroadcastEvent, GroupActivityStart

START_LEAD = timedelta(seconds=1)
"""How far ahead a group activity starts, so every device gets its sync_event in time."""


class Coordinator:
    def __init__(
        self,
        *,
        store: Store,
        bus: Bus,
        sessions: SessionService,
        commands: CommandService,
        changes: LiveChanges,
        settings: Settings,
    ) -> None:
        self._store = store
        self._bus = bus
        self._sessions = sessions
        self._commands = commands
        self._changes = changes
        self._settings = settings

    async def start_activity(self, request: GroupActivityRequest) -> GroupActivityResponse:
        """Start an activity on every listed device together, each in a new session with the persona.

        All devices must be registered (`DeviceNotFound`), of one group (`Conflict`) and connected
        (`DeviceOffline`, listing the ones that are not); nothing starts otherwise. Each device's
        active session and persona are kept with the activity, to go back to when it stops.
        """
        self._sessions.require_persona(request.persona_id)
        device_ids = list(dict.fromkeys(request.device_ids))
        group_id = one_group(await self._registered(device_ids))
        presences = await self._store.get_presences(device_ids)
        offline = [d for d, p in zip(device_ids, presences, strict=True) if p is None]
        if offline:
            raise DeviceOffline(offline[0], details={"offline_device_ids": offline})
        runtimes = await self._store.get_runtimes(device_ids)
        now = utcnow()
        activity_id = f"act_{secrets.token_hex(8)}"
        metadata = {"activity_id": activity_id, "activity_type": request.activity_type}
        playing = request.activity_type == "sync_playback"
        starts_at = now + (lead(presences, self._settings) if playing else START_LEAD)
        playback = first_playback(request.config, self._settings, starts_at) if playing else None
        sessions = [self.new_session(d, request.persona_id, metadata) for d in device_ids]
        activity = ActivityRecord(
            activity_id=activity_id,
            activity_type=request.activity_type,
            persona_id=request.persona_id,
            device_ids=device_ids,
            config=request.config,
            started_at=now,
            starts_at=starts_at,
            group_id=group_id,
            session_ids={s.device_id: s.session_id for s in sessions},
            returns={
                d: Return(session_id=r.active_session_id, persona_id=r.active_persona_id)
                for d, r in zip(device_ids, runtimes, strict=True)
            },
            playback=playback,
        )
        cues = start_cues(playback, presences, self._settings)
        commands = [self._start_command(activity, s, c) for s, c in zip(sessions, cues, strict=True)]
        await self._store.save_activity(
            activity,
            sessions=sessions,
            runtimes=[
                RuntimeChange(s.device_id, s.session_id, s.persona_id, last_activity=now) for s in sessions
            ],
            commands=commands,
            command_ttl_s=self._commands.ttl_s,
        )
        events: list[tuple[str, SessionEvent]] = [
            (s.device_id, started_event(s, activity_id=activity_id)) for s in sessions
        ]
        failed = await self._changes.publish_many(events)
        await self._bus.send_many([(c.device_id, CommandDelivery(command=c)) for c in commands])
        raise_failures(failed, events, activity_id)
        return _activity_view(activity)

    def new_session(
        self, device_id: str, persona_id: str, metadata: dict[str, str] | None = None
    ) -> SessionRecord:
        """A session record as `SessionService` opens one (written by the caller, in its batch)."""
        now = utcnow()
        return SessionRecord(
            session_id=f"sess_{secrets.token_hex(8)}",
            device_id=device_id,
            persona_id=persona_id,
            user_id=None,
            metadata=dict(metadata or {}),
            created_at=now,
            expires_at=now + timedelta(seconds=self._settings.session_ttl_s),
        )

    async def broadcast(self, request: BroadcastRequest) -> BroadcastResponse:
        """Send a `sync_event` to each target (and have it say `speak`); reports who got it and who was
        offline.

        Unknown device ids are refused (`DeviceNotFound`), targets of another group (`Conflict`),
        before anything is sent; when no target is connected at all, `DeviceOffline`.
        """
        targets = await self._targets(request)
        event_id = f"evt_{secrets.token_hex(8)}"
        payload = BroadcastEvent(
            fields=request.payload, event_type=request.event_type, event_id=event_id, speak=request.speak
        )
        commands = [self._commands.make(d, payload, priority=request.priority) for d in targets]
        await self._store.save_commands(commands, self._commands.ttl_s)
        messages: list[tuple[str, BusMessage]] = [(c.device_id, CommandDelivery(command=c)) for c in commands]
        sent = await self._bus.send_many(messages)
        delivered = [d for d, ok in zip(targets, sent, strict=True) if ok]
        offline = [d for d, ok in zip(targets, sent, strict=True) if not ok]
        if targets and not delivered:
            raise DeviceOffline(targets[0], details={"offline_device_ids": offline})
        spoken: list[str] = []
        if request.speak is not None and self._settings.voice_enabled:
            interrupt = request.priority >= INTERRUPT_PRIORITY
            lines: list[tuple[str, SessionEvent]] = [
                (
                    d,
                    Announcement(
                        event_id=new_event_id(), session_id="", text=request.speak, interrupt=interrupt
                    ),
                )
                for d in delivered
            ]
            results = await self._changes.publish_many(lines)
            spoken = [d for d in delivered if d in results and results[d] is None]
        return BroadcastResponse(
            event_id=event_id,
            event_type=request.event_type,
            delivered=delivered,
            offline=offline,
            spoken=spoken,
        )

    async def _targets(self, request: BroadcastRequest) -> list[str]:
        """The broadcast's devices, all of one group (the request's rules: `BroadcastRequest`)."""
        if request.target_devices == [ALL]:
            devices = [d for d in await self._store.list_devices() if d.group_id == request.group_id]
            if not devices:
                raise DeviceNotFound(f"all (group {request.group_id})")
            return [d.device_id for d in devices]
        targets = list(dict.fromkeys(request.target_devices))
        devices = await self._registered(targets)
        if request.group_id is None:
            one_group(devices)
        else:
            outside = [d.device_id for d in devices if d.group_id != request.group_id]
            if outside:
                raise Conflict(
                    f"Devices outside group '{request.group_id}' cannot be reached by its broadcast",
                    details={"reason": "outside_group", "group_id": request.group_id, "device_ids": outside},
                )
        return targets

    async def _registered(self, device_ids: Sequence[str]) -> list[DeviceRecord]:
        """The devices, read at once; `DeviceNotFound` for the first unknown one."""
        found = await self._store.get_devices(device_ids)
        for device_id, device in zip(device_ids, found, strict=True):
            if device is None:
                raise DeviceNotFound(device_id)
        return [d for d in found if d is not None]

    @staticmethod
    def _start_command(
        activity: ActivityRecord, session: SessionRecord, playback: PlaybackCue | None
    ) -> CommandRecord:
        payload = GroupActivityStart(
            activity_id=activity.activity_id,
            activity_type=activity.activity_type,
            persona_id=activity.persona_id,
            session_id=session.session_id,
            device_ids=activity.device_ids,
            config=activity.config,
            starts_at=activity.starts_at.isoformat(),
            playback=playback,
        )
        return CommandService.make(session.device_id, payload)


def one_group(devices: Sequence[DeviceRecord]) -> str | None:
    """The one group all `devices` belong to (None: all without one); `Conflict` if they span several."""
    groups = {d.group_id for d in devices}
    if len(groups) > 1:
        raise Conflict(
            "The devices belong to different groups: one activity or broadcast stays inside one facility",
            details={"reason": "mixed_groups", "groups": {d.device_id: d.group_id for d in devices}},
        )
    return next(iter(groups), None)


def raise_failures(
    failed: dict[str, str | None], events: Sequence[tuple[str, SessionEvent]], activity_id: str
) -> None:
    """`LiveUpdateFailed` (the store has the change) if any device's live session did not apply it."""
    reasons = {d: reason for d, reason in failed.items() if reason is not None}
    if not reasons:
        return
    device_id = next(iter(reasons))
    event = next(e for d, e in events if d == device_id)
    error = LiveUpdateFailed(device_id, event, reasons[device_id])
    error.details.update(activity_id=activity_id, failed_device_ids=sorted(reasons))
    raise error


def started_event(session: SessionRecord, *, activity_id: str | None = None) -> SessionStarted:
    return SessionStarted(
        event_id=new_event_id(),
        session_id=session.session_id,
        persona_id=session.persona_id,
        activity_id=activity_id,
    )


def _activity_view(activity: ActivityRecord) -> GroupActivityResponse:
    return GroupActivityResponse(
        activity_id=activity.activity_id,
        activity_type=activity.activity_type,
        persona_id=activity.persona_id,
        device_ids=activity.device_ids,
        session_ids=activity.session_ids,
        config=activity.config,
        started_at=activity.started_at,
        starts_at=activity.starts_at,
    )
