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
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, created_key, page
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

NOT_ON_DEVICE = Failure(409, "CONFLICT", "(operators) the session is not on `from_device_id`")
DEVICE_HANDOFF_REFUSED = Failure(
    403, "FORBIDDEN", "(devices) not the device's active session, or a target outside its group"
)
TARGET_IN_SESSION = Failure(409, "CONFLICT", "(devices) the target is in a live conversation of its own")
ONE_SESSION = declare(SESSION_NOT_FOUND)
ENDING = declare(SESSION_NOT_FOUND, LIVE_UPDATE_FAILED)


def _device_scope(request: AnyRequest) -> str | None:
    """The device whose sessions the caller sees: its own for a device token, every one for an operator.
    Another device's session is answered as one that does not exist (404), never 403."""
    principal = principal_of(request)
    return None if principal.is_operator else principal.subject


TOO_MANY_SESSIONS = Failure(
    409, "TOO_MANY_SESSIONS", "the device has `COMPANION_MAX_OPEN_SESSIONS_PER_DEVICE` open sessions"
)
NEW_SESSIONS_LIMITED = Failure(
    429, "RATE_LIMITED", "the device opened `COMPANION_SESSIONS_PER_DEVICE_PER_HOUR` sessions this hour"
)


class SessionController(Controller):
    path = "/sessions"
    tags = ["sessions"]

    @post(
        "/",
        summary="Create a session",
        **declare(
            OTHER_DEVICE,
            DEVICE_NOT_FOUND,
            PERSONA_NOT_FOUND,
            TOO_MANY_SESSIONS,
            NEW_SESSIONS_LIMITED,
            LIVE_UPDATE_FAILED,
            body=True,
        ),
    )
    async def create(self, request: AnyRequest, data: JSONBody[SessionCreateRequest]) -> SessionResponse:
        """The new session becomes the device's active session, with its persona."""
        require_device_access(principal_of(request), data.device_id)
        services = services_of(request)
        session = await services.sessions.create(
            device_id=data.device_id, persona_id=data.persona_id, user_id=data.user_id, metadata=data.metadata
        )
        return await services.sessions.view(session)

    @get(
        "/",
        summary="List sessions",
        description="Operators only. Oldest first, a page at a time (`limit`, `cursor` → `next_cursor`).",
        **declare(NOT_OPERATOR, BAD_QUERY),
    )
    async def list_sessions(
        self,
        request: AnyRequest,
        device_id: FromQuery[str | None] = None,
        status: FromQuery[Literal["active", "ended", "expired"] | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> SessionListResponse:
        require_operator(principal_of(request))
        services = services_of(request)
        now = utcnow()
        found = [
            s
            for s in await services.sessions.list(device_id)
            if status is None or services.sessions.status_of(s, now) == status
        ]
        chosen, next_cursor = page(
            found, key=lambda s: created_key(s.created_at, s.session_id), cursor=cursor, limit=limit
        )
        views = [await services.sessions.view(s) for s in chosen]
        return SessionListResponse(sessions=views, total=len(found), next_cursor=next_cursor)

    @get("/{session_id:str}", summary="Get a session", **ONE_SESSION)
    async def get_session(self, request: AnyRequest, session_id: FromPath[str]) -> SessionResponse:
        services = services_of(request)
        session = await services.sessions.get(session_id, device_id=_device_scope(request))
        return await services.sessions.view(session)

    @get(
        "/{session_id:str}/context",
        summary="A session's conversation",
        **declare(OTHER_DEVICE, SESSION_NOT_FOUND, BAD_QUERY),
    )
    async def get_context(
        self,
        request: AnyRequest,
        session_id: FromPath[str],
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> SessionContextResponse:
        """The messages kept for the persona (the last `COMPANION_CONTEXT_KEEP_LAST`), oldest first, a
        page at a time; after a barge-in, the assistant's message holds only the words the device played."""
        services = services_of(request)
        await services.sessions.get(session_id, device_id=_device_scope(request))
        kept = list(enumerate(await services.store.get_context(session_id)))
        chosen, next_cursor = page(kept, key=lambda m: f"{m[0]:08d}", cursor=cursor, limit=limit)
        messages = [ContextMessage(role=m.role, content=m.content) for _, m in chosen]
        return SessionContextResponse(
            session_id=session_id, messages=messages, total=len(kept), next_cursor=next_cursor
        )

    @delete("/{session_id:str}", summary="End a session", status_code=HTTP_200_OK, **ENDING)
    async def end(self, request: AnyRequest, session_id: FromPath[str]) -> SessionResponse:
        services = services_of(request)
        await services.sessions.get(session_id, device_id=_device_scope(request))
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
            DEVICE_HANDOFF_REFUSED,
            TARGET_IN_SESSION,
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
        if not principal_of(request).is_operator:  # what a device may hand off, and where
            await services.sessions.check_device_handoff(
                session_id, from_device_id=data.from_device_id, to_device_id=data.to_device_id
            )
        session = await services.sessions.handoff(
            session_id,
            from_device_id=data.from_device_id,
            to_device_id=data.to_device_id,
            notify_user=data.notify_user,
            seen_by=_device_scope(request),
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
