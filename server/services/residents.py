"""Residents' profiles, and what a session's persona knows: its resident's profile and the session's metadata.

A profile reaches only sessions whose `user_id` is the resident's; a session without one gets its
metadata alone. Neither is ever logged (ids only).
"""

from __future__ import annotations

from pipeline.llm.briefing import Briefing, make_briefing
from server.services.clock import utcnow
from server.state.profiles import ProfileStore, ResidentProfile
from server.state.records import SessionRecord


class ResidentService:
    def __init__(self, *, profiles: ProfileStore) -> None:
        self._profiles = profiles

    async def put(
        self, user_id: str, *, name: str | None, preferences: list[str], schedule_notes: list[str]
    ) -> ResidentProfile:
        profile = ResidentProfile(
            user_id=user_id,
            name=name,
            preferences=preferences,
            schedule_notes=schedule_notes,
            updated_at=utcnow(),
        )
        await self._profiles.put_profile(profile)
        return profile

    async def get(self, user_id: str) -> ResidentProfile | None:
        return await self._profiles.get_profile(user_id)

    async def delete(self, user_id: str) -> bool:
        return await self._profiles.delete_profile(user_id)

    async def briefing_for(self, session: SessionRecord) -> Briefing | None:
        """What the session's persona knows: the profile of the session's own resident (if any) and the
        session's metadata, as a bounded block (`pipeline.llm.briefing`); None when nothing is known."""
        profile = await self._profiles.get_profile(session.user_id) if session.user_id else None
        if profile is None:
            return make_briefing(metadata=session.metadata)
        return make_briefing(
            name=profile.name,
            preferences=profile.preferences,
            schedule_notes=profile.schedule_notes,
            metadata=session.metadata,
        )
