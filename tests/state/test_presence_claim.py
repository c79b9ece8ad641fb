"""One socket per device, in the store: `claim_presence` is atomic (newest claim wins, each claimant
learns whom it replaced) and `refresh_presence` never lets a replaced socket take the device back.
Run against both stores, Redis on a real redis-server with several clients as several instances."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest

from server.state.base import Store
from server.state.memory import MemoryStore
from server.state.records import Presence
from server.state.redis import RedisStore

StoreFactory = Callable[[], Store]
TTL_S = 60.0


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    """Stores sharing one state, as server instances do (memory: the one store)."""
    opened: list[Store] = []
    if request.param == "memory":
        memory = MemoryStore()

        def make() -> Store:
            return memory

    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:10]}:"

        def make() -> Store:
            store = RedisStore.from_url(url, key_prefix=prefix)
            opened.append(store)
            return store

    yield make
    for store in opened:
        await store.close()


def socket(instance: str, connection: str) -> Presence:
    return Presence(
        instance_id=instance, status="online", connected_at=datetime.now(UTC), connection_id=connection
    )


async def test_a_claim_replaces_the_owner_and_names_it(stores: StoreFactory) -> None:
    a, b = stores(), stores()
    assert await a.claim_presence("dev-1", socket("inst-a", "conn-1"), TTL_S) is None
    previous = await b.claim_presence("dev-1", socket("inst-b", "conn-2"), TTL_S)
    assert previous is not None
    assert (previous.instance_id, previous.connection_id) == ("inst-a", "conn-1")
    owner = await a.get_presence("dev-1")
    assert owner is not None
    assert owner.connection_id == "conn-2"


async def test_a_replaced_socket_cannot_refresh_the_device_back(stores: StoreFactory) -> None:
    a, b = stores(), stores()
    await a.claim_presence("dev-1", socket("inst-a", "conn-1"), TTL_S)
    assert await a.refresh_presence("dev-1", socket("inst-a", "conn-1"), TTL_S)
    await b.claim_presence("dev-1", socket("inst-b", "conn-2"), TTL_S)
    assert not await a.refresh_presence("dev-1", socket("inst-a", "conn-1"), TTL_S)
    owner = await b.get_presence("dev-1")
    assert owner is not None
    assert owner.connection_id == "conn-2"
    busy = Presence(
        instance_id="inst-b", status="busy", connected_at=owner.connected_at, connection_id="conn-2"
    )
    assert await b.refresh_presence("dev-1", busy, TTL_S)
    assert await a.get_presence("dev-1") == busy


async def test_the_owner_writes_its_presence_again_once_it_is_gone(stores: StoreFactory) -> None:
    """A presence that expired (or a store that lost it) is written again by the socket still open."""
    store = stores()
    assert await store.refresh_presence("dev-1", socket("inst-a", "conn-1"), TTL_S)
    owner = await store.get_presence("dev-1")
    assert owner is not None
    assert owner.connection_id == "conn-1"


async def test_simultaneous_claims_leave_one_owner_and_a_chain(stores: StoreFactory) -> None:
    """Claims at the same moment from many instances are ordered: exactly one of them saw no owner,
    every other one replaced exactly one earlier claim, and the owner is the claim nobody replaced."""
    instances = [stores() for _ in range(4)]
    claims = [socket(f"inst-{n % 4}", f"conn-{n}") for n in range(20)]
    previous = await asyncio.gather(
        *(instances[n % 4].claim_presence("dev-1", claim, TTL_S) for n, claim in enumerate(claims))
    )
    replaced = [p.connection_id for p in previous if p is not None]
    assert previous.count(None) == 1
    assert len(set(replaced)) == len(replaced) == len(claims) - 1
    owner = await instances[0].get_presence("dev-1")
    assert owner is not None
    assert {c.connection_id for c in claims} - set(replaced) == {owner.connection_id}


async def test_a_closing_socket_releases_only_its_own_presence(stores: StoreFactory) -> None:
    """Two sockets of one device on the same instance: the replaced one closing leaves the new one's."""
    store = stores()
    await store.claim_presence("dev-1", socket("inst-a", "conn-1"), TTL_S)
    await store.claim_presence("dev-1", socket("inst-a", "conn-2"), TTL_S)
    await store.release_presence("dev-1", "conn-1")
    owner = await store.get_presence("dev-1")
    assert owner is not None
    assert owner.connection_id == "conn-2"
    await store.release_presence("dev-1", "conn-2")
    assert await store.get_presence("dev-1") is None
