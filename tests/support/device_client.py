"""A device as the server sees it: a real WebSocket client speaking §8.8."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

RECEIVE_TIMEOUT_S = 10.0


class DeviceClient:
    """Wraps one device socket; `expect(type)` skips messages of other types, keeping them."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.seen: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, ws_url: str, device_id: str, token: str | None) -> DeviceClient:
        url = f"{ws_url}/ws/{device_id}" + (f"?token={token}" if token else "")
        return cls(await websockets.connect(url, open_timeout=10))

    async def send(self, type_: str, payload: Any, **extra: Any) -> None:
        await self.connection.send(json.dumps({"type": type_, "payload": payload, **extra}))

    async def send_raw(self, data: str | bytes) -> None:
        await self.connection.send(data)

    async def receive(self, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:  # noqa: ASYNC109  # a per-call deadline reads better in tests
        raw = await asyncio.wait_for(self.connection.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        self.seen.append(message)
        return message

    async def expect(self, type_: str, timeout: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:  # noqa: ASYNC109  # as above
        """The next message of `type_`, within `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.receive(timeout)
                if message["type"] == type_:
                    return message

    async def close(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> DeviceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
