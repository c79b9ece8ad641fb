"""Persona switching on a device: the command goes down first, then the state follows."""

from __future__ import annotations

from personas import PersonaLibrary
from server.errors import DeviceOffline
from server.live.changes import LiveChanges, new_event_id
from server.live.events import PersonaChanged
from server.schemas.personas import PersonaSwitchRequest, PersonaSwitchResponse
from server.services.clock import elapsed_ms
from server.services.commands import CommandService
from server.services.devices import DeviceService
from server.services.sessions import SessionService
from server.state.base import Store
from server.ws.commands import PersonaSwitchCommand


class PersonaSwitcher:
    def __init__(
        self,
        *,
        store: Store,
        devices: DeviceService,
        sessions: SessionService,
        commands: CommandService,
        personas: PersonaLibrary,
        changes: LiveChanges,
    ) -> None:
        self._store = store
        self._devices = devices
        self._sessions = sessions
        self._commands = commands
        self._personas = personas
        self._changes = changes

    async def switch(
        self, device_id: str, request: PersonaSwitchRequest, *, started: float
    ) -> PersonaSwitchResponse:
        """Switch the device's live session to another persona.

        `started` is the `perf_counter()` when the request arrived; the reported
        latency runs from then until the device's live session has swapped the
        persona in its graph (and sent the device `persona_switch`). A device that
        is not connected gets `DeviceOffline` and nothing changes; a live session
        that fails to swap gets `LiveUpdateFailed` (the store has the new persona,
        which the device's next connection takes).
        """
        await self._devices.get(device_id)
        self._sessions.require_persona(request.target_persona_id)
        if await self._devices.presence(device_id) is None:
            raise DeviceOffline(device_id)
        session = await self._sessions.current_for_device(device_id)
        previous = session.persona_id
        persona = self._personas.get(request.target_persona_id)
        assert persona is not None  # checked by require_persona above
        transition_message = request.transition_message or None  # "" says nothing
        command = await self._commands.record(
            device_id,
            PersonaSwitchCommand(
                persona_id=persona.id,
                previous_persona_id=previous,
                session_id=session.session_id,
                preserve_context=request.preserve_context,
                transition_message=transition_message,
                voice_config=persona.voice_config,
            ),
        )
        await self._sessions.set_persona(session, persona.id, preserve_context=request.preserve_context)
        await self._store.update_runtime(device_id, active_persona_id=persona.id)
        change = PersonaChanged(
            event_id=new_event_id(),
            session_id=session.session_id,
            persona_id=persona.id,
            previous_persona_id=previous,
            preserve_context=request.preserve_context,
            transition_message=transition_message,
            command_id=command.command_id,
        )
        if not await self._changes.publish(device_id, change):
            raise DeviceOffline(device_id)  # it went away since the check above
        return PersonaSwitchResponse(
            success=True,
            previous_persona_id=previous,
            new_persona_id=persona.id,
            switch_latency_ms=round(elapsed_ms(started)),
            session_id=session.session_id,
        )
