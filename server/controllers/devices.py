"""Device endpoints (§8.3 and the operator's additions) and persona switching (§8.4)."""

from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from server.auth import require_device_access, require_operator
from server.controllers.common import AnyRequest, principal_of, public_base_url, services_of
from server.controllers.openapi import (
    BAD_QUERY,
    COMMAND_NOT_FOUND,
    DEVICE_NOT_FOUND,
    DEVICE_OFFLINE,
    LIVE_UPDATE_FAILED,
    NOT_OPERATOR,
    OTHER_DEVICE,
    PERSONA_NOT_FOUND,
    declare,
)
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, created_key, page
from server.request_ids import received_at
from server.schemas.devices import (
    DeviceCommandRequest,
    DeviceCommandResponse,
    DeviceInfo,
    DeviceListResponse,
    DeviceRegisterRequest,
    DeviceRegisterResponse,
    DeviceState,
    DeviceStatus,
    DeviceTokenResponse,
)
from server.schemas.personas import PersonaSwitchRequest, PersonaSwitchResponse
from server.state.records import CommandRecord
from server.ws.commands import OPERATOR_COMMANDS, wire_payload


class DeviceController(Controller):
    path = "/devices"
    tags = ["devices"]

    @post(
        "/",
        summary="Register a device",
        description="Operators only. Returns the device's own token.",
        **declare(NOT_OPERATOR, body=True),
    )
    async def register(
        self, request: AnyRequest, data: JSONBody[DeviceRegisterRequest]
    ) -> DeviceRegisterResponse:
        require_operator(principal_of(request))
        device, token = await services_of(request).devices.register(data)
        return DeviceRegisterResponse(
            device_id=device.device_id,
            auth_token=token.token,
            websocket_url=_websocket_url(request, device.device_id),
            created_at=device.created_at,
        )

    @get(
        "/",
        summary="List devices",
        description="Operators only; filter by group or status. Oldest registration first, a page at a time "
        "(`limit`, `cursor` → `next_cursor`).",
        **declare(NOT_OPERATOR, BAD_QUERY),
    )
    async def list_devices(
        self,
        request: AnyRequest,
        group_id: FromQuery[str | None] = None,
        status: FromQuery[DeviceStatus | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> DeviceListResponse:
        require_operator(principal_of(request))
        devices = await services_of(request).devices.list(group_id=group_id, status=status)
        chosen, next_cursor = page(
            devices, key=lambda d: created_key(d.created_at, d.device_id), cursor=cursor, limit=limit
        )
        return DeviceListResponse(devices=chosen, total=len(devices), next_cursor=next_cursor)

    @get("/{device_id:str}", summary="Get a device", **declare(OTHER_DEVICE, DEVICE_NOT_FOUND))
    async def get_device(self, request: AnyRequest, device_id: FromPath[str]) -> DeviceInfo:
        require_device_access(principal_of(request), device_id)
        services = services_of(request)
        return await services.devices.info(await services.devices.get(device_id))

    @delete(
        "/{device_id:str}",
        summary="Deregister a device",
        status_code=HTTP_204_NO_CONTENT,
        **declare(NOT_OPERATOR, DEVICE_NOT_FOUND),
    )
    async def deregister(self, request: AnyRequest, device_id: FromPath[str]) -> None:
        """Operators only. Revokes the device's token and closes its socket."""
        require_operator(principal_of(request))
        await services_of(request).devices.deregister(device_id)

    @get("/{device_id:str}/state", summary="Get device state", **declare(OTHER_DEVICE, DEVICE_NOT_FOUND))
    async def state(self, request: AnyRequest, device_id: FromPath[str]) -> DeviceState:
        require_device_access(principal_of(request), device_id)
        return await services_of(request).devices.state(device_id)

    @post(
        "/{device_id:str}/token",
        summary="Rotate a device's token",
        status_code=HTTP_200_OK,
        **declare(NOT_OPERATOR, DEVICE_NOT_FOUND),
    )
    async def rotate_token(self, request: AnyRequest, device_id: FromPath[str]) -> DeviceTokenResponse:
        """Operators only. The previous token stops working at once, on every instance."""
        require_operator(principal_of(request))
        token = await services_of(request).devices.rotate_token(device_id)
        return DeviceTokenResponse(device_id=device_id, auth_token=token.token, expires_at=token.expires_at)

    @post(
        "/{device_id:str}/commands",
        summary="Push a command to a device",
        status_code=HTTP_202_ACCEPTED,
        **declare(NOT_OPERATOR, DEVICE_NOT_FOUND, DEVICE_OFFLINE, body=True),
    )
    async def send_command(
        self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[DeviceCommandRequest]
    ) -> DeviceCommandResponse:
        """Operators only. `DEVICE_OFFLINE` (503) when the device has no live socket."""
        require_operator(principal_of(request))
        services = services_of(request)
        await services.devices.get(device_id)
        payload = OPERATOR_COMMANDS[data.type](fields=data.payload)
        command = await services.commands.send(device_id, payload, priority=data.priority)
        return _command_view(command)

    @get(
        "/{device_id:str}/commands/{command_id:str}",
        summary="Get a command and its ack",
        **declare(OTHER_DEVICE, COMMAND_NOT_FOUND),
    )
    async def get_command(
        self, request: AnyRequest, device_id: FromPath[str], command_id: FromPath[str]
    ) -> DeviceCommandResponse:
        require_device_access(principal_of(request), device_id)
        return _command_view(await services_of(request).commands.get(device_id, command_id))

    @post(
        "/{device_id:str}/persona/switch",
        summary="Switch persona",
        status_code=HTTP_200_OK,
        **declare(
            OTHER_DEVICE, DEVICE_NOT_FOUND, PERSONA_NOT_FOUND, DEVICE_OFFLINE, LIVE_UPDATE_FAILED, body=True
        ),
    )
    async def switch_persona(
        self, request: AnyRequest, device_id: FromPath[str], data: JSONBody[PersonaSwitchRequest]
    ) -> PersonaSwitchResponse:
        require_device_access(principal_of(request), device_id)
        return await services_of(request).switcher.switch(device_id, data, started=received_at(request.scope))


def _websocket_url(request: AnyRequest, device_id: str) -> str:
    return "ws" + public_base_url(request).removeprefix("http") + f"/ws/{device_id}"


def _command_view(command: CommandRecord) -> DeviceCommandResponse:
    return DeviceCommandResponse(
        command_id=command.command_id,
        device_id=command.device_id,
        type=command.type,
        payload=wire_payload(command.payload),
        priority=command.priority,
        sent_at=command.sent_at,
        acked=command.acked_at is not None,
        acked_at=command.acked_at,
        ack_payload=command.ack_payload,
    )
