"""Multi-device coordination endpoints (§8.7). Operators only."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK

from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import (
    DEVICE_NOT_FOUND,
    DEVICE_OFFLINE,
    LIVE_UPDATE_FAILED,
    NOT_OPERATOR,
    PERSONA_NOT_FOUND,
    declare,
)
from server.schemas.coordination import (
    BroadcastRequest,
    BroadcastResponse,
    GroupActivityRequest,
    GroupActivityResponse,
)


class CoordinationController(Controller):
    path = "/coordination"
    tags = ["coordination"]

    @post(
        "/group-activity",
        summary="Start a group activity",
        **declare(
            NOT_OPERATOR, PERSONA_NOT_FOUND, DEVICE_NOT_FOUND, DEVICE_OFFLINE, LIVE_UPDATE_FAILED, body=True
        ),
    )
    async def group_activity(
        self, request: AnyRequest, data: JSONBody[GroupActivityRequest]
    ) -> GroupActivityResponse:
        """Every device must be connected; each gets a session with the persona and a `sync_event`."""
        require_operator(principal_of(request))
        return await services_of(request).coordinator.start_activity(data)

    @post(
        "/broadcast",
        summary="Broadcast an event",
        status_code=HTTP_200_OK,
        **declare(NOT_OPERATOR, DEVICE_NOT_FOUND, DEVICE_OFFLINE, body=True),
    )
    async def broadcast(self, request: AnyRequest, data: JSONBody[BroadcastRequest]) -> BroadcastResponse:
        """Sends a `sync_event` to each target; offline ones are listed, not failed (unless all are)."""
        require_operator(principal_of(request))
        return await services_of(request).coordinator.broadcast(data)
