"""`RedisLink`, the store's lean connection for a REST request's commands, on a real redis-server:
replies reach the command that asked for them however many are in flight, and it fails as redis-py
does (so `StoreUnreachable` above it) when Redis is killed, hangs, or forgets its scripts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.state.errors import StoreUnreachable
from server.state.redis import RedisStore
from server.state.redis_link import LinkScript, RedisLink
from tests.state.test_store_contract import device
from tests.support.redis_server import RestartableRedis


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.resume()
        server.kill()


@pytest.fixture
async def client(redis: RestartableRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis.url)
    yield client
    await client.aclose()


async def test_every_reply_reaches_the_command_that_asked_for_it(client: Redis) -> None:
    link = RedisLink.for_client(client)
    assert link is not None
    await client.mset({f"k{n}": f"v{n}" for n in range(500)})
    await client.set("not-a-number", "x")

    async def get(n: int) -> bytes | None:
        return await link.call("GET", f"k{n}")  # type: ignore[no-any-return]  # a bulk reply

    async def failing_incr() -> None:
        with pytest.raises(ResponseError, match="not an integer"):
            await link.call("INCR", "not-a-number")

    # 500 reads and 50 error replies in flight at once, written together and answered in order.
    replies = await asyncio.gather(*(get(n) for n in range(500)), *(failing_incr() for _ in range(50)))
    assert replies[:500] == [f"v{n}".encode() for n in range(500)]
    assert await link.call("GET", "missing") is None
    assert await link.call("INCR", "counted") == 1
    await link.close()


async def test_a_script_runs_again_after_redis_forgot_it(client: Redis) -> None:
    link = RedisLink.for_client(client)
    assert link is not None
    script = LinkScript(link, "return redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])")
    assert await script(keys=["n"], args=[10]) == 11
    await client.script_flush()  # as a restarted Redis has no script cached
    assert await script(keys=["n"], args=[10]) == 12
    await link.close()


async def test_a_killed_redis_fails_the_commands_and_a_restarted_one_is_reached_again(
    redis: RestartableRedis, client: Redis
) -> None:
    link = RedisLink.for_client(client)
    assert link is not None
    await link.call("SET", "kept", "yes")
    redis.kill()
    with pytest.raises(RedisConnectionError):
        await link.call("GET", "kept")
    with pytest.raises(RedisConnectionError):  # connecting again is refused too
        await link.call("GET", "kept")
    redis.start()
    assert await link.call("GET", "kept") == b"yes"  # reconnected by itself, the data kept
    await link.close()


async def test_a_hung_redis_fails_the_waiting_commands_at_the_reply_timeout(
    redis: RestartableRedis, client: Redis
) -> None:
    link = RedisLink(port=int(redis.url.rsplit(":", 1)[1].split("/")[0]), reply_timeout_s=0.3)
    await link.call("SET", "kept", "yes")
    redis.pause()
    waiting = [asyncio.ensure_future(link.call("GET", "kept")) for _ in range(3)]
    for call in waiting:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(call, 10)
    redis.resume()
    assert await link.call("GET", "kept") == b"yes"  # a new connection: no stale reply is matched
    await link.close()


async def test_the_urls_password_and_database_are_used(redis: RestartableRedis, client: Redis) -> None:
    await client.config_set("requirepass", "s3cret")
    base = redis.url.rsplit("/", 1)[0].replace("redis://", "redis://:s3cret@")
    on_db_3 = Redis.from_url(f"{base}/3")
    link = RedisLink.for_client(on_db_3)
    assert link is not None
    await link.call("SET", "where", "db3")
    assert await on_db_3.get("where") == b"db3"
    wrong = RedisLink.for_client(Redis.from_url(base.replace("s3cret", "wrong") + "/3"))
    assert wrong is not None
    with pytest.raises(RedisConnectionError):  # redis-py's AuthenticationError is a ConnectionError
        await wrong.call("GET", "where")
    await on_db_3.config_set("requirepass", "")
    await on_db_3.aclose()
    await link.close()
    await wrong.close()


async def test_the_stores_token_check_fails_as_unreachable_and_recovers(redis: RestartableRedis) -> None:
    store = RedisStore.from_url(redis.url, key_prefix=f"t{uuid.uuid4().hex[:8]}:")
    await store.add_device(device("dev-1", jti="jti-1"))
    assert (await store.check_token("jti-1", device_id="dev-1")).standing == "ok"
    redis.kill()
    with pytest.raises(StoreUnreachable):
        await store.check_token("jti-1", device_id="dev-1")
    with pytest.raises(StoreUnreachable):
        await store.get_device_snapshot("dev-1", device("dev-1").created_at.date())
    redis.start()  # its data kept (append-only); its script cache is not
    assert (await store.check_token("jti-1", device_id="dev-1")).standing == "ok"
    assert (await store.check_token("jti-0", device_id="dev-1")).standing == "revoked"
    await store.close()
