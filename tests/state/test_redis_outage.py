"""The Redis store and bus with their redis-server killed and started again (its data kept on disk).

While Redis is away every call fails as `StoreUnreachable` (never a redis-py error), the bus's detach
still lets go of the device, and writes kept by `CatchUp` are made, in order, once it is back.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.llm import ChatMessage
from server.state.catch_up import CatchUp
from server.state.errors import StoreUnreachable
from server.state.records import BusMessage, Disconnect
from server.state.redis import RedisStore
from server.state.redis_bus import RedisBus
from tests.server.helpers import poll
from tests.support.redis_server import RestartableRedis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def store(redis: RestartableRedis) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(redis.url, key_prefix=f"t{uuid.uuid4().hex[:8]}:")
    yield store
    await store.close()


async def test_calls_fail_as_unreachable_and_succeed_again_once_redis_is_back(
    redis: RestartableRedis, store: RedisStore
) -> None:
    await store.record_interaction("dev-1", 100.0, datetime.now(UTC))
    redis.kill()
    assert await store.ping() is False
    with pytest.raises(StoreUnreachable):
        await store.get_day_metrics("dev-1", datetime.now(UTC).date())
    with pytest.raises(StoreUnreachable):
        await store.record_interaction("dev-1", 100.0, datetime.now(UTC))
    redis.start()
    assert await store.ping() is True  # the same client, reconnected by itself
    assert (await store.get_day_metrics("dev-1", datetime.now(UTC).date())).interactions == 1


async def test_writes_kept_while_redis_is_away_are_made_in_order_once_it_is_back(
    redis: RestartableRedis, store: RedisStore
) -> None:
    catch_up = CatchUp(retry_s=0.05)
    day = datetime.now(UTC).date()
    redis.kill()
    for n in range(3):

        async def append(n: int = n) -> None:
            await store.append_context(
                "sess-1", [ChatMessage(role="user", content=f"turn {n}")], keep_last=10
            )

        async def count() -> None:
            await store.record_interaction("dev-1", 50.0, datetime.now(UTC))

        await catch_up.run(f"turn {n}", append, count)  # returns at once: nothing is lost, nothing raised
    assert catch_up.pending == 3

    redis.start()
    await asyncio.wait_for(catch_up.drained(), 20)
    assert [m.content for m in await store.get_context("sess-1")] == ["turn 0", "turn 1", "turn 2"]
    assert (await store.get_day_metrics("dev-1", day)).interactions == 3
    await catch_up.close()


async def test_a_device_detached_while_redis_is_away_is_not_subscribed_again(
    redis: RestartableRedis,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    bus = RedisBus.from_url(redis.url, key_prefix=prefix)
    sender = RedisBus.from_url(redis.url, key_prefix=prefix)
    await bus.start()
    received: list[BusMessage] = []
    await bus.attach("dev-1", received.append)
    await bus.attach("dev-2", received.append)
    redis.kill()
    await bus.detach("dev-1", received.append)  # returns: the socket's cleanup goes on
    with pytest.raises(StoreUnreachable):
        await sender.send("dev-2", Disconnect())
    redis.start()

    async def reaches_dev_2() -> bool:
        try:
            return await sender.send("dev-2", Disconnect(reason="probe"))
        except StoreUnreachable:
            return False

    # The bus reconnects by itself and subscribes again the device still attached...
    assert await poll(reaches_dev_2, lambda reached: reached, within=20)
    # ...but not the one detached during the outage: a send to it finds no receiver.
    assert await sender.send("dev-1", Disconnect()) is False
    await bus.close()
    await sender.close()
