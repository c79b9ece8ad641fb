"""Session endpoints (§8.6) and the operator's additions: list, get, end."""

from __future__ import annotations

from typing import Literal

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from server.auth import require_device_access, require_operator
from server.controllers.common import AnyRequest, principal_of, services_of
from server.controllers.openapi import (
    BAD_QUERY,
    DEVICE_NOT_FOUND,
    LIVE_UPDATE_FAILED,
    NOT_OPERATOR,
    OTHER_DEVICE,
    PERSONA_NOT_FOUND,
    SESSION_EXPIRED,
    SESSION_NOT_FOUND,
    Failure,
    declare,
)
from server.schemas.sessions import (
    ContextMessage,
    SessionContextResponse,
    SessionCreateRequest,
    SessionHandoffRequest,
    SessionHandoffResponse,
    SessionListResponse,
    SessionResponse,
)
from server.services.clock import utcnow
from server.ws.commands import SessionHandoff

NOT_ON_DEVICE = Failure(409, "CONFLICT", "the session is not on `from_device_id`")
ONE_SESSION = declare(OTHER_DEVICE, SESSION_NOT_FOUND)
ENDING = declare(OTHER_DEVICE, SESSION_NOT_FOUND, LIVE_UPDATE_FAILED)


class SessionController(Controller):
    path = "/sessions"
    tags = ["sessions"]

    @post(
        "/",
        summary="Create a session",
        **declare(OTHER_DEVICE, DEVICE_NOT_FOUND, PERSONA_NOT_FOUND, LIVE_UPDATE_FAILED, body=True),
    )
    async def create(self, request: AnyRequest, data: JSONBody[SessionCreateRequest]) -> SessionResponse:
        """The new session becomes the device's active session, with its persona."""
        require_device_access(principal_of(request), data.device_id)
        services = services_of(request)
        session = await services.sessions.create(
            device_id=data.device_id, persona_id=data.persona_id, user_id=data.user_id, metadata=data.metadata
        )
        return await services.sessions.view(session)

    @get("/", summary="List sessions", description="Operators only.", **declare(NOT_OPERATOR, BAD_QUERY))
    async def list_sessions(
        self,
        request: AnyRequest,
        device_id: FromQuery[str | None] = None,
        status: FromQuery[Literal["active", "ended", "expired"] | None] = None,
    ) -> SessionListResponse:
        require_operator(principal_of(request))
        services = services_of(request)
        views = [await services.sessions.view(s) for s in await services.sessions.list(device_id)]
        views = [v for v in views if status is None or v.status == status]
        return SessionListResponse(sessions=views, total=len(views))

    @get("/{session_id:str}", summary="Get a session", **ONE_SESSION)
    async def get_session(self, request: AnyRequest, session_id: FromPath[str]) -> SessionResponse:
        services = services_of(request)
        session = await services.sessions.get(session_id)
        require_device_access(principal_of(request), session.device_id)
        return await services.sessions.view(session)

    @get("/{session_id:str}/context", summary="A session's conversation", **ONE_SESSION)
    async def get_context(self, request: AnyRequest, session_id: FromPath[str]) -> SessionContextResponse:
        """The messages kept for the persona (the last `COMPANION_CONTEXT_KEEP_LAST`); after a barge-in,
        the assistant's message holds only the words the device played."""
        services = services_of(request)
        session = await services.sessions.get(session_id)
        require_device_access(principal_of(request), session.device_id)
        messages = [
            ContextMessage(role=m.role, content=m.content)
            for m in await services.store.get_context(session_id)
        ]
        return SessionContextResponse(session_id=session_id, messages=messages, total=len(messages))

    @delete("/{session_id:str}", summary="End a session", status_code=HTTP_200_OK, **ENDING)
    async def end(self, request: AnyRequest, session_id: FromPath[str]) -> SessionResponse:
        services = services_of(request)
        session = await services.sessions.get(session_id)
        require_device_access(principal_of(request), session.device_id)
        return await services.sessions.view(await services.sessions.end(session_id))

    @post(
        "/{session_id:str}/handoff",
        summary="Hand a session off to another device",
        status_code=HTTP_200_OK,
        **declare(
            OTHER_DEVICE,
            SESSION_NOT_FOUND,
            SESSION_EXPIRED,
            NOT_ON_DEVICE,
            DEVICE_NOT_FOUND,
            LIVE_UPDATE_FAILED,
            body=True,
        ),
    )
    async def handoff(
        self, request: AnyRequest, session_id: FromPath[str], data: JSONBody[SessionHandoffRequest]
    ) -> SessionHandoffResponse:
        """Operators, or the device the session is on. The persona and context move along."""
        require_device_access(principal_of(request), data.from_device_id)
        services = services_of(request)
        session = await services.sessions.handoff(
            session_id,
            from_device_id=data.from_device_id,
            to_device_id=data.to_device_id,
            notify_user=data.notify_user,
        )
        notified: list[str] = []
        if data.notify_user:
            ends: list[tuple[str, Literal["from", "to"]]] = [
                (data.from_device_id, "from"),
                (data.to_device_id, "to"),
            ]
            for device_id, role in ends:
                if await services.devices.presence(device_id) is None:
                    continue
                await services.commands.send(
                    device_id,
                    SessionHandoff(
                        role=role,
                        session_id=session_id,
                        from_device_id=data.from_device_id,
                        to_device_id=data.to_device_id,
                        persona_id=session.persona_id,
                    ),
                )
                notified.append(device_id)
        return SessionHandoffResponse(
            session_id=session_id,
            from_device_id=data.from_device_id,
            to_device_id=data.to_device_id,
            persona_id=session.persona_id,
            notified_device_ids=notified,
            handed_off_at=utcnow(),
        )
