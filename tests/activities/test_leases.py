"""Which instance runs a game: the lease, on memory and on a real redis-server (server/activities/lease.py).
One holder at a time; only the holder renews or releases it; once it lapses, another may claim it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from server.activities.lease import Leases, MemoryLeases, RedisLeases

TTL_S = 0.3


@pytest.fixture(params=["memory", "redis"])
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[Leases]:
    if request.param == "memory":
        yield MemoryLeases()
        return
    url: str = request.getfixturevalue("redis_url")
    kept = RedisLeases.from_url(url, key_prefix=f"t{secrets.token_hex(4)}:")
    yield kept
    await kept.close()


async def test_one_holder_at_a_time_and_only_it_renews(leases: Leases) -> None:
    assert await leases.claim("act_1", "inst_a", TTL_S)
    assert not await leases.claim("act_1", "inst_b", TTL_S)
    assert await leases.claim("act_2", "inst_b", TTL_S)  # another activity's lease is its own
    assert await leases.renew("act_1", "inst_a", TTL_S)
    assert not await leases.renew("act_1", "inst_b", TTL_S)
    await leases.release("act_1", "inst_b")  # not its own: nothing changes
    assert not await leases.claim("act_1", "inst_b", TTL_S)


async def test_a_lapsed_lease_is_claimed_by_another_and_lost_to_its_old_holder(leases: Leases) -> None:
    assert await leases.claim("act_1", "inst_a", TTL_S)
    await asyncio.sleep(TTL_S + 0.2)  # the holder stopped renewing (it died)
    assert await leases.claim("act_1", "inst_b", TTL_S)
    assert not await leases.renew("act_1", "inst_a", TTL_S)
    await leases.release("act_1", "inst_a")
    assert await leases.renew("act_1", "inst_b", TTL_S)


async def test_a_released_lease_is_free_at_once(leases: Leases) -> None:
    assert await leases.claim("act_1", "inst_a", 30)
    await leases.release("act_1", "inst_a")
    assert await leases.claim("act_1", "inst_b", 30)
