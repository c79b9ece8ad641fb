"""Commands pushed down to devices (§8.8 outgoing), wherever their socket is, and their acks."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from server.errors import CommandNotFound, DeviceOffline
from server.services.clock import utcnow
from server.settings import Settings
from server.state.base import Bus, Store
from server.state.records import CommandDelivery, CommandRecord
from server.ws.commands import CommandPayload


class CommandService:
    def __init__(self, *, store: Store, bus: Bus, settings: Settings) -> None:
        self._store = store
        self._bus = bus
        self._ttl_s = settings.command_ttl_s

    async def send(
        self, device_id: str, payload: CommandPayload, *, priority: int | None = None
    ) -> CommandRecord:
        """Deliver a command to the device's socket; `DeviceOffline` if it has none.

        The command is recorded first, so the device's ack (which may arrive on
        another instance) always finds it. `priority`: the payload type's own
        unless given (an operator's command may give one).
        """
        command = await self.record(device_id, payload, priority=priority)
        delivered = await self._bus.send(device_id, CommandDelivery(command=command))
        if not delivered:
            raise DeviceOffline(device_id)
        return command

    async def record(
        self, device_id: str, payload: CommandPayload, *, priority: int | None = None
    ) -> CommandRecord:
        """Record a command for the device without sending it (its live session sends it)."""
        command = self.make(device_id, payload, priority=priority)
        await self._store.save_command(command, self._ttl_s)
        return command

    @staticmethod
    def make(device_id: str, payload: CommandPayload, *, priority: int | None = None) -> CommandRecord:
        """A new command, neither recorded nor sent (a fan-out records and sends many at once)."""
        return CommandRecord(
            command_id=f"cmd_{secrets.token_hex(8)}",
            device_id=device_id,
            payload=payload,
            priority=payload.default_priority if priority is None else priority,
            sent_at=utcnow(),
        )

    @property
    def ttl_s(self) -> int:
        """How long a command (and so its ack) is kept."""
        return self._ttl_s

    async def get(self, device_id: str, command_id: str) -> CommandRecord:
        command = await self._store.get_command(command_id)
        if command is None or command.device_id != device_id:
            raise CommandNotFound(command_id)
        return command

    async def record_ack(
        self, device_id: str, command_id: str, ack_payload: dict[str, Any]
    ) -> CommandRecord | None:
        """Record the device's ack of one of its commands; None if the command is unknown or not its own."""
        command = await self._store.get_command(command_id)
        if command is None or command.device_id != device_id:
            return None
        acked = msgspec.structs.replace(command, acked_at=utcnow(), ack_payload=ack_payload)
        await self._store.save_command(acked, self._ttl_s)
        return acked
