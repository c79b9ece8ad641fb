"""`/ws/{device_id}`: a device's persistent connection (§8.8).

Authentication: `?token=…`, an `Authorization: Bearer …` header, or a first
message `{"type": "auth", "payload": {"token": "…"}}` within a few seconds.
A bad message gets an `error` message back; the connection stays open. The
connection's life is the shared `DeviceSession` (server/ws/device_session.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from server.auth import Principal, bearer_token
from server.controllers.common import public_base_url
from server.errors import ApiError, Forbidden, StoreUnavailable, Unauthorized
from server.services import Services
from server.state.errors import StoreUnreachable
from server.ws import messages, protocol
from server.ws.device_session import (
    DeviceSession,
    check_standing,
    error_message,
    run_device_session,
    server_fault,
)
from server.ws.transport import Inbound

AUTH_TIMEOUT_S = 10.0


@websocket("/ws/{device_id:str}", name="device_socket")
async def device_socket(socket: WebSocket[Any, Any, Any], device_id: FromPath[str]) -> None:
    services: Services = socket.app.state["services"]
    transport = SocketTransport(socket)
    await socket.accept()
    try:
        principal = await _authenticate(socket, services, device_id)
    except ApiError as error:
        await transport.refuse(error)
        return
    except WebSocketDisconnect:
        return
    except StoreUnreachable:  # the token or the device could not be checked: try again later
        await transport.refuse(StoreUnavailable())
        return
    except Exception as exc:
        await server_fault(transport, device_id, exc)
        return
    await run_device_session(DeviceSession(transport, services, device_id, principal))


class SocketTransport:
    """A device connection over the WebSocket: text and binary frames in, JSON text out."""

    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self._socket = socket
        self.base_url = public_base_url(socket)
        self.sample_rate = _declared_rate(socket.query_params.get("sample_rate"))

    @property
    def channel(self) -> SocketTransport:
        return self

    async def send_text(self, data: bytes) -> None:
        await self._socket.send_data(data, mode="text")

    async def receive(self) -> Inbound | None:
        while True:
            try:
                event = await self._socket.receive()
            except WebSocketDisconnect:
                return None
            if event["type"] == "websocket.disconnect":
                return None
            # `is None`, not `or`: an empty text frame is a (malformed) message and gets its error.
            data = event.get("text")
            if data is None:
                data = event.get("bytes")
            if isinstance(data, str | bytes):
                return data

    async def refuse(self, error: ApiError) -> None:
        """The `error` message, then the close code 4000 + its HTTP status."""
        with contextlib.suppress(Exception):
            await self._socket.send_data(messages.encode_message(error_message(error)), mode="text")
        await self.close(4000 + error.status_code, error.error_code)

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._socket.close(code=code, reason=reason)


async def _authenticate(socket: WebSocket[Any, Any, Any], services: Services, device_id: str) -> Principal:
    token = socket.query_params.get("token")
    if not token and socket.headers.get("authorization"):
        token = bearer_token(socket.headers.get("authorization"))
    if not token:
        token = await _token_from_first_message(socket)
    principal = services.tokens.verify_claims(token)
    if principal.role != "device" or principal.subject != device_id:
        raise Forbidden("Only this device's own token opens its socket", details={"device_id": device_id})
    await check_standing(services, principal, device_id)
    return principal


async def _token_from_first_message(socket: WebSocket[Any, Any, Any]) -> str:
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            data = await socket.receive_data(mode="text")
    except TimeoutError:
        raise Unauthorized("No token: send an auth message first", reason="missing") from None
    try:
        message = protocol.decode(data)
    except msgspec.DecodeError:
        raise Unauthorized("The first message must be an auth message", reason="missing") from None
    if not isinstance(message, protocol.Auth):
        raise Unauthorized("The first message must be an auth message", reason="missing")
    return message.payload.token


def _declared_rate(value: str | None) -> int | None:
    """`?sample_rate=` if a plain number (`isdigit` alone takes "²", and `int` refuses 5,000 digits)."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 6:
        return None
    return int(value)
