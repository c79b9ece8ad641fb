"""One device's connection on this instance, whatever carries it: a priority outbox drained by one writer.

The writer hands each message to the connection's `Channel`: the WebSocket (server/ws/handler.py)
or a WebRTC peer's `events` data channel (server/webrtc/peer.py); both carry the same JSON text.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections import Counter, deque
from collections.abc import AsyncIterator
from typing import Protocol

from server.state.records import CommandRecord, Disconnect
from server.ws import messages
from server.ws.messages import Command, Message

log = logging.getLogger(__name__)

_CLOSE = b""
"""Sentinel in the outbox: close the connection once everything before it is sent."""


class Channel(Protocol):
    """What a device's messages travel on: one JSON text message at a time, and a close."""

    async def send_text(self, data: bytes) -> None:
        """Send one message (UTF-8 JSON); raises if the channel is gone."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """Close the connection with a close code (README, "Close codes") and a short reason."""
        ...


class DeviceConnection:
    """Sends to one device in priority order (higher first, FIFO among equals).

    Every method only enqueues, so none blocks its caller (the bus reader among
    them). The writer task owns the channel's send side.
    """

    def __init__(self, channel: Channel, device_id: str) -> None:
        self.channel = channel
        self.device_id = device_id
        self.connection_id = f"conn_{secrets.token_hex(8)}"
        """Names this connection among the device's: the store's presence says which one owns the device."""
        self._outbox: asyncio.PriorityQueue[tuple[int, int, bytes]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._unacked: deque[str] = deque(maxlen=256)
        self._writer: asyncio.Task[None] | None = None
        self.close_reason = ""
        self.close_code = 4410

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"writer-{self.device_id}")

    def send(self, message: Message) -> None:
        self._outbox.put_nowait((-message.priority, next(self._order), messages.encode_message(message)))

    def _enqueue(self, priority: int, data: bytes) -> None:
        self._outbox.put_nowait((-priority, next(self._order), data))

    def close(self, message: Disconnect) -> None:
        """Close the connection once everything queued ahead of the close is sent."""
        self.close_reason = message.reason or "disconnected by the server"
        self.close_code = message.close_code
        self._enqueue(1_000_000, _CLOSE)

    def send_command(self, command: CommandRecord) -> None:
        """Send a command the device acknowledges (`ack` names its `command_id`)."""
        self._unacked.append(command.command_id)
        message = Command(payload=command.payload, command_id=command.command_id, priority=command.priority)
        self._enqueue(message.priority, messages.encode_command(message))

    def take_unacked(self, command_id: str | None) -> str | None:
        """The command an ack refers to: the one named, else the oldest still unacknowledged."""
        if command_id is not None:
            with contextlib.suppress(ValueError):
                self._unacked.remove(command_id)
            return command_id
        return self._unacked.popleft() if self._unacked else None

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        try:
            while True:
                _, _, data = await self._outbox.get()
                if not data:  # the close sentinel
                    await self.channel.close(self.close_code, self.close_reason[:120])
                    return
                await self.channel.send_text(data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the channel went away mid-send; the reader side ends the connection
            log.debug("writer for %s stopped: %s", self.device_id, type(exc).__name__)


class TakeOvers:
    """One socket of a device at a time through its take-over on this instance (claim the device's
    presence, attach to the bus, check it still owns both): a second socket of the same device here
    waits for the first to finish, so it closes that one by a call it is sure to reach. Sockets on
    other instances are ordered by the store's atomic claim instead."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def turn(self, device_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(device_id, asyncio.Lock())
        self._waiting[device_id] += 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[device_id] -= 1
            if not self._waiting[device_id]:  # the last one out forgets the device's lock
                del self._waiting[device_id]
                del self._locks[device_id]
