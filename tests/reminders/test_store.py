"""The reminder store's contract, in memory and on a real redis-server: a due reminder is leased to
one taker at a time, an occurrence is claimed once, a deleted reminder is not written back, and the
reminders waiting for a confirmation are kept per device."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from server.reminders.records import ReminderRecord
from server.reminders.store import MemoryReminderStore, RedisReminderStore, ReminderStore
from tests.support.redis_server import running_redis_server

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis_server() as url:
        yield url


@pytest_asyncio.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[list[ReminderStore]]:
    """Two stores sharing their state: two instances' views of one Redis (or one memory store twice)."""
    if request.param == "memory":
        memory = MemoryReminderStore()
        yield [memory, memory]
        return
    prefix = f"contract-{request.node.name}:"
    made = [RedisReminderStore.from_url(redis_url, key_prefix=prefix) for _ in range(2)]
    yield list(made)
    for store in made:
        await store.close()


def record(reminder_id: str) -> ReminderRecord:
    now = datetime.now(UTC)
    return ReminderRecord(
        reminder_id=reminder_id,
        at=now,
        device_id="dev_a",
        user_id=None,
        text="Tea.",
        prompt=None,
        persona_id=None,
        recurrence=None,
        confirmation_window_s=0,
        missed_window_s=60,
        created_at=now,
        created_by="ops",
        next_due_at=now,
    )


async def test_a_due_reminder_is_leased_to_one_taker(stores: list[ReminderStore]) -> None:
    first, second = stores
    now = time.time()
    for n in range(30):
        await first.add(record(f"rem_{n}"), now - 1)
    await first.add(record("rem_later"), now + 3600)
    taken = await asyncio.gather(*(s.claim_due(now, 60, 7) for s in (first, second, first, second, first)))
    ids = [i for batch in taken for i in batch]
    assert sorted(ids) == sorted(f"rem_{n}" for n in range(30))  # each once, the later one not yet
    assert await second.claim_due(now + 30, 60, 100) == []  # all leased
    assert sorted(await second.claim_due(now + 61, 60, 100)) == sorted(ids)  # the leases ran out
    assert await first.next_due() == pytest.approx(now + 121)


async def test_saving_sets_the_next_look_and_a_deleted_one_stays_deleted(stores: list[ReminderStore]) -> None:
    first, second = stores
    now = time.time()
    await first.add(record("rem_x"), now - 1)
    assert await second.claim_due(now, 60, 10) == ["rem_x"]
    finished = record("rem_x")
    assert await second.save(finished, None)
    assert await first.claim_due(now + 1000, 60, 10) == []
    assert await first.get("rem_x") == finished
    assert await first.delete("rem_x")
    assert not await second.save(finished, now)
    assert await second.get("rem_x") is None
    assert await second.all() == []


async def test_an_occurrence_is_claimed_once_and_can_be_given_up(stores: list[ReminderStore]) -> None:
    first, second = stores
    results = await asyncio.gather(*(s.claim_once("rem_y:1", 60) for s in (first, second) * 4))
    assert sorted(results) == [False] * 7 + [True]
    await first.release_once("rem_y:1")
    assert await second.claim_once("rem_y:1", 60)


async def test_reminders_awaiting_a_confirmation_are_kept_per_device(stores: list[ReminderStore]) -> None:
    first, second = stores
    await first.await_confirmation("dev_a", "rem_1", True)
    await first.await_confirmation("dev_a", "rem_2", True)
    await first.await_confirmation("dev_b", "rem_3", True)
    assert await second.awaiting("dev_a") == ["rem_1", "rem_2"]
    await second.await_confirmation("dev_a", "rem_1", False)
    assert await first.awaiting("dev_a") == ["rem_2"]
    assert await first.awaiting("dev_c") == []
