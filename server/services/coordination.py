"""Multi-device coordination (§8.7): group activities and broadcasts."""

from __future__ import annotations

import secrets
from datetime import timedelta

from server.errors import DeviceNotFound, DeviceOffline
from server.schemas.coordination import (
    BroadcastRequest,
    BroadcastResponse,
    GroupActivityRequest,
    GroupActivityResponse,
)
from server.services.clock import utcnow
from server.services.commands import CommandService
from server.services.devices import DeviceService
from server.services.sessions import SessionService
from server.state.base import Store
from server.state.records import ActivityRecord
from server.ws.commands import BroadcastEvent, GroupActivityStart

START_LEAD = timedelta(seconds=1)
"""How far ahead a group activity starts, so every device gets its sync_event in time."""


class Coordinator:
    def __init__(
        self, *, store: Store, devices: DeviceService, sessions: SessionService, commands: CommandService
    ) -> None:
        self._store = store
        self._devices = devices
        self._sessions = sessions
        self._commands = commands

    async def start_activity(self, request: GroupActivityRequest) -> GroupActivityResponse:
        """Start an activity on every listed device together, each in a new session with the persona.

        All devices must be registered (`DeviceNotFound`) and connected
        (`DeviceOffline`, listing the ones that are not); nothing starts otherwise.
        """
        self._sessions.require_persona(request.persona_id)
        device_ids = list(dict.fromkeys(request.device_ids))
        for device_id in device_ids:
            await self._devices.get(device_id)
        offline = [d for d in device_ids if await self._devices.presence(d) is None]
        if offline:
            raise DeviceOffline(offline[0], details={"offline_device_ids": offline})
        now = utcnow()
        activity = ActivityRecord(
            activity_id=f"act_{secrets.token_hex(8)}",
            activity_type=request.activity_type,
            persona_id=request.persona_id,
            device_ids=device_ids,
            config=request.config,
            started_at=now,
            starts_at=now + START_LEAD,
        )
        await self._store.save_activity(activity)
        session_ids: dict[str, str] = {}
        for device_id in device_ids:
            session = await self._sessions.create(
                device_id=device_id,
                persona_id=request.persona_id,
                metadata={"activity_id": activity.activity_id, "activity_type": request.activity_type},
                activity_id=activity.activity_id,
            )
            session_ids[device_id] = session.session_id
            await self._commands.send(
                device_id,
                GroupActivityStart(
                    activity_id=activity.activity_id,
                    activity_type=activity.activity_type,
                    persona_id=activity.persona_id,
                    session_id=session.session_id,
                    device_ids=device_ids,
                    config=activity.config,
                    starts_at=activity.starts_at.isoformat(),
                ),
            )
        return _activity_view(activity, session_ids)

    async def broadcast(self, request: BroadcastRequest) -> BroadcastResponse:
        """Send a `sync_event` to each target; reports who got it and who was offline.

        Unknown device ids are refused (`DeviceNotFound`) before anything is sent;
        when no target is connected at all, `DeviceOffline`.
        """
        targets = await self._targets(request)
        event_id = f"evt_{secrets.token_hex(8)}"
        delivered: list[str] = []
        offline: list[str] = []
        for device_id in targets:
            try:
                await self._commands.send(
                    device_id,
                    BroadcastEvent(fields=request.payload, event_type=request.event_type, event_id=event_id),
                )
                delivered.append(device_id)
            except DeviceOffline:
                offline.append(device_id)
        if targets and not delivered:
            raise DeviceOffline(targets[0], details={"offline_device_ids": offline})
        return BroadcastResponse(
            event_id=event_id, event_type=request.event_type, delivered=delivered, offline=offline
        )

    async def _targets(self, request: BroadcastRequest) -> list[str]:
        if request.target_devices == ["all"]:
            devices = await self._store.list_devices()
            targets = [
                d.device_id for d in devices if request.group_id is None or d.group_id == request.group_id
            ]
            if not targets:
                raise DeviceNotFound(f"all (group {request.group_id})" if request.group_id else "all")
            return targets
        targets = list(dict.fromkeys(request.target_devices))
        for device_id in targets:
            device = await self._devices.get(device_id)
            if request.group_id is not None and device.group_id != request.group_id:
                raise DeviceNotFound(device_id)
        return targets


def _activity_view(activity: ActivityRecord, session_ids: dict[str, str]) -> GroupActivityResponse:
    return GroupActivityResponse(
        activity_id=activity.activity_id,
        activity_type=activity.activity_type,
        persona_id=activity.persona_id,
        device_ids=activity.device_ids,
        session_ids=session_ids,
        config=activity.config,
        started_at=activity.started_at,
        starts_at=activity.starts_at,
    )
