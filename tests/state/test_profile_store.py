"""The residents' profile store, run against both backends (Redis on a real redis-server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from server.state.base import Store
from server.state.memory import MemoryStore
from server.state.profiles import (
    MemoryProfiles,
    ProfileStore,
    RedisProfiles,
    ResidentProfile,
    profiles_beside,
)
from server.state.redis import RedisStore

Profiles = Callable[[], ProfileStore]


@pytest.fixture(params=["memory", "redis"])
async def profiles(request: pytest.FixtureRequest) -> AsyncIterator[Profiles]:
    """Makes profile stores sharing one state, as server instances do (memory: the one store)."""
    opened: list[Store] = []
    if request.param == "memory":
        memory = MemoryStore()
        opened.append(memory)
        shared = profiles_beside(memory)

        def make() -> ProfileStore:
            return shared

    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:10]}:"

        def make() -> ProfileStore:
            store = RedisStore.from_url(url, key_prefix=prefix)
            opened.append(store)
            return profiles_beside(store)

    yield make
    for store in opened:
        await store.close()


def profile(user_id: str, name: str | None = "Margaret") -> ResidentProfile:
    return ResidentProfile(
        user_id=user_id,
        name=name,
        preferences=["tea with milk"],
        schedule_notes=["tablet at nine"],
        updated_at=datetime(2026, 12, 4, 9, 30, tzinfo=UTC),
    )


async def test_backends_are_what_they_say(profiles: Profiles, request: pytest.FixtureRequest) -> None:
    expected = MemoryProfiles if request.node.callspec.params["profiles"] == "memory" else RedisProfiles
    assert isinstance(profiles(), expected)


async def test_put_get_replace_delete(profiles: Profiles) -> None:
    store = profiles()
    assert await store.get_profile("Mrs Smith") is None
    await store.put_profile(profile("Mrs Smith"))
    assert await store.get_profile("Mrs Smith") == profile("Mrs Smith")
    await store.put_profile(profile("Mrs Smith", name=None))
    assert await store.get_profile("Mrs Smith") == profile("Mrs Smith", name=None)
    assert await store.delete_profile("Mrs Smith") is True
    assert await store.get_profile("Mrs Smith") is None
    assert await store.delete_profile("Mrs Smith") is False


async def test_residents_are_kept_apart_and_shared_by_instances(profiles: Profiles) -> None:
    one, other = profiles(), profiles()
    await one.put_profile(profile("alice"))
    await one.put_profile(profile("bob", name="Robert"))
    assert await other.get_profile("alice") == profile("alice")
    assert await other.get_profile("bob") == profile("bob", name="Robert")
    await other.delete_profile("alice")
    assert await one.get_profile("alice") is None
    assert await one.get_profile("bob") == profile("bob", name="Robert")
