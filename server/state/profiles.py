"""Residents' profiles (what the persona knows of a resident), kept beside the `Store`, in memory or Redis.

A narrow interface of its own: three calls, one record. With Redis the profiles live in the
store's Redis under the same prefix, `profile:{user_id}` (JSON, no expiry: an operator deletes
it), so every instance reads the same profile. Bounded by the API's schema (a profile is at most
a few kilobytes), one per resident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec
from redis.asyncio import Redis

from server.state.base import Store
from server.state.redis import RedisStore
from server.state.redis_errors import translate_outages


class ResidentProfile(msgspec.Struct, frozen=True):
    """What operators told the server about a resident (`PUT /residents/{user_id}/profile`)."""

    user_id: str
    name: str | None
    preferences: list[str]
    schedule_notes: list[str]
    updated_at: datetime


class ProfileStore(Protocol):
    async def put_profile(self, profile: ResidentProfile) -> None:
        """Keep `profile`, replacing the resident's previous one."""
        ...

    async def get_profile(self, user_id: str) -> ResidentProfile | None: ...

    async def delete_profile(self, user_id: str) -> bool:
        """Forget the resident's profile; False if there was none."""
        ...


class MemoryProfiles:
    """Profiles in this process (the embedded default)."""

    def __init__(self) -> None:
        self._profiles: dict[str, ResidentProfile] = {}

    async def put_profile(self, profile: ResidentProfile) -> None:
        self._profiles[profile.user_id] = profile

    async def get_profile(self, user_id: str) -> ResidentProfile | None:
        return self._profiles.get(user_id)

    async def delete_profile(self, user_id: str) -> bool:
        return self._profiles.pop(user_id, None) is not None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ResidentProfile)


@translate_outages
class RedisProfiles:
    """Profiles in Redis, shared by every instance; an outage raises `StoreUnreachable`."""

    def __init__(self, client: Redis, *, key_prefix: str) -> None:
        self._r = client
        self._p = key_prefix

    async def put_profile(self, profile: ResidentProfile) -> None:
        await self._r.set(self._key(profile.user_id), _encoder.encode(profile))

    async def get_profile(self, user_id: str) -> ResidentProfile | None:
        raw = await self._r.get(self._key(user_id))
        return None if raw is None else _decoder.decode(raw)

    async def delete_profile(self, user_id: str) -> bool:
        return bool(await self._r.delete(self._key(user_id)))

    def _key(self, user_id: str) -> str:
        return f"{self._p}profile:{user_id}"


def profiles_beside(store: Store) -> ProfileStore:
    """The profile store that goes with `store`: in its Redis (and key prefix), or in memory."""
    if isinstance(store, RedisStore):
        client, prefix = store.keyspace()
        return RedisProfiles(client, key_prefix=prefix)
    return MemoryProfiles()
