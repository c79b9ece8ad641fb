"""Persona switching on a device: the command goes down first, then the state follows."""

from __future__ import annotations

import msgspec

from personas import PersonaLibrary
from server.errors import DeviceOffline
from server.schemas.personas import PersonaSwitchRequest, PersonaSwitchResponse
from server.services.clock import elapsed_ms
from server.services.commands import CommandService
from server.services.devices import DeviceService
from server.services.sessions import SessionService
from server.state.base import Store

SWITCH_PRIORITY = 10
"""Above ordinary commands (0): a switch overtakes queued LED or sync commands."""


class PersonaSwitcher:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        sessions: SessionService,
        commands: CommandService,
        personas: PersonaLibrary,
    ) -> None:
        self._store = store
        self._devices = devices
        self._sessions = sessions
        self._commands = commands
        self._personas = personas

    async def switch(
        self, device_id: str, request: PersonaSwitchRequest, *, started: float
    ) -> PersonaSwitchResponse:
        """Switch the device's live session to another persona.

        `started` is the `perf_counter()` when the request arrived; the reported
        latency runs from then until the device has been sent the command and the
        new persona is the session's persona. A device that is not connected gets
        `DeviceOffline` and nothing changes.
        """
        await self._devices.get(device_id)
        self._sessions.require_persona(request.target_persona_id)
        if await self._devices.presence(device_id) is None:
            raise DeviceOffline(device_id)
        session = await self._sessions.current_for_device(device_id)
        previous = session.persona_id
        persona = self._personas.get(request.target_persona_id)
        assert persona is not None  # checked by require_persona above
        await self._commands.send(
            device_id,
            "persona_switch",
            {
                "persona_id": persona.id,
                "previous_persona_id": previous,
                "session_id": session.session_id,
                "preserve_context": request.preserve_context,
                "transition_message": request.transition_message,
                "voice_config": msgspec.to_builtins(persona.voice_config),
            },
            priority=SWITCH_PRIORITY,
        )
        await self._sessions.set_persona(session, persona.id, preserve_context=request.preserve_context)
        await self._store.update_runtime(device_id, active_persona_id=persona.id)
        return PersonaSwitchResponse(
            success=True,
            previous_persona_id=previous,
            new_persona_id=persona.id,
            switch_latency_ms=round(elapsed_ms(started)),
            session_id=session.session_id,
        )
