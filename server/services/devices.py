"""Devices: registration, state with metrics from real events, listing, tokens, deregistration."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import msgspec

from personas import PersonaLibrary
from server.auth import IssuedToken, TokenService
from server.errors import DeviceNotFound
from server.schemas.devices import DeviceInfo, DeviceMetrics, DeviceRegisterRequest, DeviceState, DeviceStatus
from server.services.clock import utcnow
from server.settings import Settings
from server.state.base import Bus, Store
from server.state.records import DeviceRecord, DeviceRuntime, Disconnect, Presence

TOKEN_ROTATED = Disconnect(reason="token rotated; reconnect with the new token", close_code=4401)
DEREGISTERED = Disconnect(reason="device deregistered", close_code=4410)


class DeviceService:
    def __init__(
        self, *, store: Store, bus: Bus, tokens: TokenService, personas: PersonaLibrary, settings: Settings
    ) -> None:
        self._store = store
        self._bus = bus
        self._tokens = tokens
        self._personas = personas
        self._settings = settings

    async def register(self, request: DeviceRegisterRequest) -> tuple[DeviceRecord, IssuedToken]:
        device_id = f"dev_{secrets.token_hex(8)}"
        token = self._issue(device_id)
        device = DeviceRecord(
            device_id=device_id,
            name=request.name,
            device_type=request.device_type,
            location=request.location,
            group_id=request.group_id,
            capabilities=request.capabilities,
            created_at=utcnow(),
            token_jti=token.jti,
        )
        await self._store.add_device(device)
        return device, token

    async def get(self, device_id: str) -> DeviceRecord:
        device = await self._store.get_device(device_id)
        if device is None:
            raise DeviceNotFound(device_id)
        return device

    async def presence(self, device_id: str) -> Presence | None:
        return await self._store.get_presence(device_id)

    async def state(self, device_id: str) -> DeviceState:
        now = utcnow()
        snapshot = await self._store.get_device_snapshot(device_id, now.date())
        if snapshot is None:
            raise DeviceNotFound(device_id)
        device, runtime, presence, day = snapshot.device, snapshot.runtime, snapshot.presence, snapshot.day
        uptime_h = (now - presence.connected_at).total_seconds() / 3600.0 if presence else 0.0
        avg = round(day.latency_ms_total / day.interactions) if day.interactions else None
        return DeviceState(
            device_id=device_id,
            status=_status(presence),
            active_persona_id=self.answering_persona(runtime),
            active_session_id=runtime.active_session_id,
            last_activity=_last_activity(device, runtime),
            metrics=DeviceMetrics(
                uptime_hours=round(uptime_h, 4),
                interactions_today=day.interactions,
                avg_response_latency_ms=avg,
            ),
        )

    async def info(self, device: DeviceRecord) -> DeviceInfo:
        runtime = await self._store.get_runtime(device.device_id)
        presence = await self._store.get_presence(device.device_id)
        return DeviceInfo(
            device_id=device.device_id,
            name=device.name,
            device_type=device.device_type,  # type: ignore[arg-type]  # validated at registration
            location=device.location,
            group_id=device.group_id,
            capabilities=device.capabilities,
            created_at=device.created_at,
            status=_status(presence),
            active_persona_id=self.answering_persona(runtime),
            active_session_id=runtime.active_session_id,
            last_activity=_last_activity(device, runtime),
        )

    async def list(
        self, *, group_id: str | None = None, status: DeviceStatus | None = None
    ) -> list[DeviceInfo]:
        devices = await self._store.list_devices()
        infos = [await self.info(d) for d in devices if group_id is None or d.group_id == group_id]
        return [i for i in infos if status is None or i.status == status]

    async def rotate_token(self, device_id: str) -> IssuedToken:
        """A new device token; the old one stops everywhere at once: the device record names the new
        `jti` (every request and connect checks it) and the socket opened with the old one is closed
        (4401), on whichever instance holds it."""
        device = await self.get(device_id)
        token = self._issue(device_id)
        await self._store.replace_device(msgspec.structs.replace(device, token_jti=token.jti))
        await self._revoke(device.token_jti)
        # After the record changed: a socket that connects meanwhile either attaches before this
        # reaches its instance, or re-reads the record after attaching and finds its token stale.
        await self._bus.send(device_id, TOKEN_ROTATED)
        return token

    async def deregister(self, device_id: str) -> None:
        """Forget the device, revoke its token and close its socket wherever it is."""
        device = await self.get(device_id)
        await self._revoke(device.token_jti)
        await self._store.delete_device(device_id)
        await self._bus.send(device_id, DEREGISTERED)

    def answering_persona(self, runtime: DeviceRuntime) -> str:
        """The persona the device answers with now: its assigned one, else (none yet, or one no
        longer in the library) the default, exactly as its next session would be opened."""
        persona_id = runtime.active_persona_id
        if persona_id is None or persona_id not in self._personas:
            return self._settings.default_persona_id
        return persona_id

    async def touch(self, device_id: str) -> None:
        await self._store.update_runtime(device_id, last_activity=utcnow())

    def _issue(self, device_id: str) -> IssuedToken:
        return self._tokens.issue(role="device", subject=device_id, ttl_s=self._settings.device_token_ttl_s)

    async def _revoke(self, jti: str) -> None:
        # A device token never outlives device_token_ttl_s, so neither need its revocation.
        until = utcnow() + timedelta(seconds=self._settings.device_token_ttl_s)
        await self._store.revoke_token(jti, until)


def _status(presence: Presence | None) -> DeviceStatus:
    return "offline" if presence is None else presence.status


def _last_activity(device: DeviceRecord, runtime: DeviceRuntime) -> datetime:
    return runtime.last_activity or device.created_at
