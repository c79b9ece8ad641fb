"""`POST /reminders`, `GET /reminders`, `GET /reminders/{id}`, `DELETE /reminders/{id}` (operators only).

A reminder is shown with its newest occurrences (`due`, `spoken`, `confirmed`, `missed`,
`unconfirmed`); the list is newest first, a page at a time, filtered by device, resident and status.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import Body, BodyKwarg, FromPath, FromQuery
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import (
    BAD_QUERY,
    DEVICE_NOT_FOUND,
    NOT_OPERATOR,
    PERSONA_NOT_FOUND,
    Failure,
    declare,
)
from server.errors import DeviceNotFound, PersonaNotFound
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, page
from server.reminders.errors import ReminderNotFound
from server.reminders.records import (
    Reminder,
    ReminderListResponse,
    ReminderRecord,
    ReminderRequest,
    ReminderStatus,
    reminder_view,
)

REMINDER_NOT_FOUND = Failure(404, "REMINDER_NOT_FOUND", "no such reminder (unknown, or deleted)")
TOO_MANY = Failure(409, "CONFLICT", "`COMPANION_REMINDER_MAX` reminders are kept already")
_NEWEST = 10**11


def _one_of(first: str, second: str) -> Schema:
    """Exactly one of two nullable string fields is a string."""
    return Schema(
        one_of=[
            Schema(required=[name], properties={name: Schema(type=OpenAPIType.STRING)})
            for name in (first, second)
        ]
    )


def _exactly_one() -> BodyKwarg:
    """The document states `ReminderRequest.__post_init__`'s rules, so that a request valid by the
    document is one the server takes."""
    rules = [_one_of("device_id", "user_id"), _one_of("text", "prompt")]
    body: BodyKwarg = Body(media_type=RequestEncodingType.JSON, schema_extra={"all_of": rules})
    return body


def _newest_first(record: ReminderRecord) -> str:
    return f"{_NEWEST - record.created_at.timestamp():020.6f}|{record.reminder_id}"


class ReminderController(Controller):
    path = "/reminders"
    tags = ["reminders"]

    @post(
        "/",
        summary="Schedule a reminder",
        description="Said at `at` (and as `recurrence` repeats it) on the device, or on the device holding "
        "the resident's active session, in the persona's voice; see the README's 'Reminders'.",
        **declare(NOT_OPERATOR, DEVICE_NOT_FOUND, PERSONA_NOT_FOUND, TOO_MANY, body=True),
    )
    async def create(self, request: AnyRequest, data: Annotated[ReminderRequest, _exactly_one()]) -> Reminder:
        principal = principal_of(request)
        require_operator(principal)
        services = services_of(request)
        if data.persona_id is not None and data.persona_id not in services.personas:
            raise PersonaNotFound(data.persona_id)
        if data.device_id is not None and await services.store.get_device(data.device_id) is None:
            raise DeviceNotFound(data.device_id)
        return reminder_view(await services.reminders.create(data, principal.subject))

    @get(
        "/",
        summary="List reminders",
        description="Newest first, a page at a time (`limit`, `cursor` → `next_cursor`); operators only.",
        **declare(NOT_OPERATOR, BAD_QUERY),
    )
    async def list_reminders(
        self,
        request: AnyRequest,
        device_id: FromQuery[str | None] = None,
        user_id: FromQuery[str | None] = None,
        status: FromQuery[ReminderStatus | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> ReminderListResponse:
        require_operator(principal_of(request))
        found = [
            r
            for r in await services_of(request).reminders.store.all()
            if (device_id is None or r.device_id == device_id)
            and (user_id is None or r.user_id == user_id)
            and (status is None or r.status == status)
        ]
        chosen, next_cursor = page(found, key=_newest_first, cursor=cursor, limit=limit)
        return ReminderListResponse(
            reminders=[reminder_view(r) for r in chosen], total=len(found), next_cursor=next_cursor
        )

    @get("/{reminder_id:str}", summary="Get a reminder", **declare(NOT_OPERATOR, REMINDER_NOT_FOUND))
    async def get_reminder(self, request: AnyRequest, reminder_id: FromPath[str]) -> Reminder:
        require_operator(principal_of(request))
        record = await services_of(request).reminders.store.get(reminder_id)
        if record is None:
            raise ReminderNotFound(reminder_id)
        return reminder_view(record)

    @delete(
        "/{reminder_id:str}",
        summary="Delete a reminder",
        description="It is not said again; an occurrence waiting for a confirmation raises no alert.",
        status_code=HTTP_204_NO_CONTENT,
        **declare(NOT_OPERATOR, REMINDER_NOT_FOUND),
    )
    async def delete_reminder(self, request: AnyRequest, reminder_id: FromPath[str]) -> None:
        require_operator(principal_of(request))
        if not await services_of(request).reminders.delete(reminder_id):
            raise ReminderNotFound(reminder_id)
