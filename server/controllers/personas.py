"""Persona library endpoints (§8.4). Any token may read the library."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, FromQuery

from personas import Persona
from server.controllers.common import AnyRequest, services_of
from server.controllers.openapi import BAD_QUERY, PERSONA_NOT_FOUND, declare
from server.errors import PersonaNotFound
from server.pagination import DEFAULT_LIMIT, Cursor, Limit, page
from server.schemas.personas import PersonaDetail, PersonaListResponse, PersonaSummary


class PersonaController(Controller):
    path = "/personas"
    tags = ["personas"]

    @get(
        "/",
        summary="List personas",
        description="By id, a page at a time (`limit`, `cursor` → `next_cursor`).",
        **declare(BAD_QUERY),
    )
    async def list_personas(
        self,
        request: AnyRequest,
        tag: FromQuery[str | None] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> PersonaListResponse:
        found = [p for p in services_of(request).personas if tag is None or tag in p.tags]
        chosen, next_cursor = page(found, key=lambda p: p.id, cursor=cursor, limit=limit)
        return PersonaListResponse(
            personas=[_summary(p) for p in chosen], total=len(found), next_cursor=next_cursor
        )

    @get("/{persona_id:str}", summary="Get persona details", **declare(PERSONA_NOT_FOUND))
    async def get_persona(self, request: AnyRequest, persona_id: FromPath[str]) -> PersonaDetail:
        persona = services_of(request).personas.get(persona_id)
        if persona is None:
            raise PersonaNotFound(persona_id)
        return PersonaDetail(
            id=persona.id,
            name=persona.name,
            description=persona.description,
            version=persona.version,
            voice_config=msgspec.to_builtins(persona.voice_config),
            behavior_config=msgspec.to_builtins(persona.behavior_config),
            tags=list(persona.tags),
            created_at=persona.created_at,
            updated_at=persona.updated_at,
        )


def _summary(persona: Persona) -> PersonaSummary:
    return PersonaSummary(
        id=persona.id,
        name=persona.name,
        description=persona.description,
        version=persona.version,
        tags=list(persona.tags),
        adaptation_mode=persona.adaptation_mode,
    )
