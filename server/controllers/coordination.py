"""Multi-device coordination endpoints (§8.7) and an activity's lifecycle.

Starting, broadcasting and stopping are for operators; a device token may list and read the
activities it takes part in (any other is a 404, as one that does not exist).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import Body, BodyKwarg, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from server.activities.playback import PlaybackRequest, PlaybackResponse, Playbacks
from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import (
    BAD_QUERY,
    DEVICE_NOT_FOUND,
    DEVICE_OFFLINE,
    LIVE_UPDATE_FAILED,
    NOT_OPERATOR,
    PERSONA_NOT_FOUND,
    Failure,
    declare,
)
from server.media.controller import MEDIA_NOT_FOUND
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, created_key, page
from server.schemas.coordination import (
    ALL,
    ActivityListResponse,
    ActivityResponse,
    ActivityStatus,
    BroadcastRequest,
    BroadcastResponse,
    GroupActivityRequest,
    GroupActivityResponse,
)
from server.services.activities import view

MIXED_GROUPS = Failure(
    409, "CONFLICT", "the devices span several groups, or one is outside `group_id` (`details.reason`)"
)
PLAYBACK_CONFLICT = Failure(
    409,
    "CONFLICT",
    "not a running sync_playback, or the playback is already in that state (`details.reason`)",
)
ACTIVITY_NOT_FOUND = Failure(
    404, "ACTIVITY_NOT_FOUND", "no such activity (for a device token: none it takes part in)"
)


def _all_needs_a_group() -> BodyKwarg:
    """The document states `BroadcastRequest.__post_init__`'s rule: `"all"` stands alone, with a
    `group_id`; so that a request valid by the document is one the server takes."""
    no_all = Schema(properties={"target_devices": Schema(schema_not=Schema(contains=Schema(const=ALL)))})
    all_of_group = Schema(
        required=["group_id"],
        properties={"group_id": Schema(type=OpenAPIType.STRING), "target_devices": Schema(max_items=1)},
    )
    body: BodyKwarg = Body(
        media_type=RequestEncodingType.JSON, schema_extra={"any_of": [no_all, all_of_group]}
    )
    return body


def _device_scope(request: AnyRequest) -> str | None:
    principal = principal_of(request)
    return None if principal.is_operator else principal.subject


def _playbacks(request: AnyRequest) -> Playbacks:
    services = services_of(request)
    return Playbacks(
        store=services.store,
        bus=services.bus,
        activities=services.activities,
        commands=services.commands,
        settings=services.settings,
    )


class CoordinationController(Controller):
    path = "/coordination"
    tags = ["coordination"]

    @post(
        "/group-activity",
        summary="Start a group activity",
        **declare(
            NOT_OPERATOR,
            PERSONA_NOT_FOUND,
            DEVICE_NOT_FOUND,
            MIXED_GROUPS,
            DEVICE_OFFLINE,
            LIVE_UPDATE_FAILED,
            MEDIA_NOT_FOUND,
            body=True,
        ),
    )
    async def group_activity(
        self, request: AnyRequest, data: JSONBody[GroupActivityRequest]
    ) -> GroupActivityResponse:
        """Every device must be connected, all of one group; each gets a session with the persona and a
        `sync_event`."""
        require_operator(principal_of(request))
        return await services_of(request).coordinator.start_activity(data)

    @post(
        "/broadcast",
        summary="Broadcast an event",
        status_code=HTTP_200_OK,
        **declare(NOT_OPERATOR, DEVICE_NOT_FOUND, MIXED_GROUPS, DEVICE_OFFLINE, body=True),
    )
    async def broadcast(
        self, request: AnyRequest, data: Annotated[BroadcastRequest, _all_needs_a_group()]
    ) -> BroadcastResponse:
        """Sends a `sync_event` to each target, all of one group (`["all"]` needs `group_id`); offline
        ones are listed, not failed (unless all are). With `speak`, each device says it in its persona's
        voice: from `priority` 8 up cutting what it is saying, below once it has finished."""
        require_operator(principal_of(request))
        return await services_of(request).coordinator.broadcast(data)

    @get(
        "/activities",
        summary="List group activities",
        description="Oldest start first, a page at a time (`limit`, `cursor` → `next_cursor`). "
        "A device token sees only the activities it takes part in.",
        **declare(BAD_QUERY),
    )
    async def list_activities(
        self,
        request: AnyRequest,
        group_id: FromQuery[str | None] = None,
        status: FromQuery[ActivityStatus | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ActivityListResponse:
        found = await services_of(request).activities.list(
            group_id=group_id, status=status, seen_by=_device_scope(request)
        )
        chosen, next_cursor = page(
            found, key=lambda a: created_key(a.started_at, a.activity_id), cursor=cursor, limit=limit
        )
        return ActivityListResponse(
            activities=[view(a) for a in chosen], total=len(found), next_cursor=next_cursor
        )

    @get("/activities/{activity_id:str}", summary="Get a group activity", **declare(ACTIVITY_NOT_FOUND))
    async def get_activity(self, request: AnyRequest, activity_id: FromPath[str]) -> ActivityResponse:
        activities = services_of(request).activities
        return view(await activities.get(activity_id, seen_by=_device_scope(request)))

    @post(
        "/activities/{activity_id:str}/playback",
        summary="Pause, resume or stop a synchronised playback",
        status_code=HTTP_200_OK,
        **declare(NOT_OPERATOR, ACTIVITY_NOT_FOUND, PLAYBACK_CONFLICT, LIVE_UPDATE_FAILED, body=True),
    )
    async def control_playback(
        self, request: AnyRequest, activity_id: FromPath[str], data: JSONBody[PlaybackRequest]
    ) -> PlaybackResponse:
        """Every device does it at one instant (`at`, sent to each on its own clock); `stop` also stops
        the activity."""
        require_operator(principal_of(request))
        return await _playbacks(request).control(activity_id, data.action)

    @post(
        "/activities/{activity_id:str}/stop",
        summary="Stop a group activity",
        status_code=HTTP_200_OK,
        **declare(NOT_OPERATOR, ACTIVITY_NOT_FOUND, LIVE_UPDATE_FAILED),
    )
    async def stop_activity(self, request: AnyRequest, activity_id: FromPath[str]) -> ActivityResponse:
        """Its sessions end at once; every participant goes back to its own session and persona. Stopping
        a stopped activity answers it as it is."""
        require_operator(principal_of(request))
        await _playbacks(request).stop_playing(activity_id)  # a playback's devices stop it too
        return view(await services_of(request).activities.stop(activity_id))
