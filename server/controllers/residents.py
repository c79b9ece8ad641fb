"""Residents' profiles: operators only. What a persona knows of the resident a session is for."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, put
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from server.auth import require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import NOT_OPERATOR, Failure, declare
from server.errors import ProfileNotFound
from server.schemas.common import LABEL_PATTERN
from server.schemas.residents import ResidentProfileRequest, ResidentProfileResponse
from server.state.profiles import ResidentProfile

PROFILE_NOT_FOUND = Failure(404, "PROFILE_NOT_FOUND", "no profile is kept for this resident")
BAD_USER_ID = Failure(
    422, "VALIDATION_ERROR", "`user_id` is not 1-64 printable characters (as a session's `user_id`)"
)
UserId = Annotated[
    str,
    Parameter(
        min_length=1,
        max_length=64,
        pattern=LABEL_PATTERN,
        description="The resident, as sessions name them (`user_id`): 1-64 printable characters.",
    ),
]


class ResidentController(Controller):
    path = "/residents/{user_id:str}/profile"
    tags = ["residents"]

    @put(
        "/",
        summary="Set a resident's profile",
        description="Operators only. Replaces the whole profile; it reaches the persona's prompt in the "
        "resident's own sessions (those whose `user_id` is this one) from their next turn.",
        **declare(NOT_OPERATOR, BAD_USER_ID, body=True),
    )
    async def put_profile(
        self, request: AnyRequest, user_id: UserId, data: JSONBody[ResidentProfileRequest]
    ) -> ResidentProfileResponse:
        require_operator(principal_of(request))
        profile = await services_of(request).residents.put(
            user_id,
            name=data.name,
            preferences=data.preferences,
            schedule_notes=data.schedule_notes,
        )
        return _view(profile)

    @get(
        "/",
        summary="Get a resident's profile",
        description="Operators only.",
        **declare(NOT_OPERATOR, BAD_USER_ID, PROFILE_NOT_FOUND),
    )
    async def get_profile(self, request: AnyRequest, user_id: UserId) -> ResidentProfileResponse:
        require_operator(principal_of(request))
        profile = await services_of(request).residents.get(user_id)
        if profile is None:
            raise ProfileNotFound()
        return _view(profile)

    @delete(
        "/",
        summary="Delete a resident's profile",
        description="Operators only. Their sessions' personas know nothing of it from their next turn.",
        status_code=HTTP_204_NO_CONTENT,
        **declare(NOT_OPERATOR, BAD_USER_ID, PROFILE_NOT_FOUND),
    )
    async def delete_profile(self, request: AnyRequest, user_id: UserId) -> None:
        require_operator(principal_of(request))
        if not await services_of(request).residents.delete(user_id):
            raise ProfileNotFound()


def _view(profile: ResidentProfile) -> ResidentProfileResponse:
    return ResidentProfileResponse(
        user_id=profile.user_id,
        name=profile.name,
        preferences=list(profile.preferences),
        schedule_notes=list(profile.schedule_notes),
        updated_at=profile.updated_at,
    )
