"""The `Bus` contract, run against every backend (Redis on a real redis-server)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from server.live.events import Outcome, SessionEnded
from server.state.base import Bus
from server.state.memory import MemoryBus
from server.state.records import BusMessage, CommandDelivery, CommandRecord, Disconnect, SessionChange
from server.state.redis_bus import RedisBus
from server.ws.commands import OperatorLed

BusFactory = Callable[[], Awaitable[Bus]]

DISCONNECT = Disconnect(reason="device deregistered")
SENT_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Inbox:
    """A `Deliver` that keeps what it receives, to be awaited."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[BusMessage] = asyncio.Queue()

    def __call__(self, message: BusMessage) -> None:
        self.received.put_nowait(message)

    async def next(self) -> BusMessage:
        return await asyncio.wait_for(self.received.get(), 2.0)


def command(command_id: str) -> BusMessage:
    record = CommandRecord(
        command_id=command_id,
        device_id="dev-1",
        payload=OperatorLed(fields={"level": 3}),
        priority=1,
        sent_at=SENT_AT,
    )
    return CommandDelivery(command=record)


@pytest.fixture(params=["memory", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """Makes started buses of one deployment, as server instances have (memory: the one bus)."""
    opened: list[Bus] = []
    if request.param == "memory":
        memory = MemoryBus()
        opened.append(memory)

        async def make() -> Bus:
            return memory

    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"t{uuid.uuid4().hex[:10]}:"

        async def make() -> Bus:
            bus = RedisBus.from_url(url, key_prefix=prefix)
            opened.append(bus)
            await bus.start()
            return bus

    yield make
    for bus in opened:
        await bus.close()


async def test_attach_send_detach(buses: BusFactory) -> None:
    bus = await buses()
    inbox = Inbox()
    await bus.attach("dev-1", inbox)
    assert await bus.send("dev-1", command("cmd-1")) is True
    assert await inbox.next() == command("cmd-1")

    await bus.detach("dev-1", inbox)
    assert await bus.send("dev-1", DISCONNECT) is False
    assert inbox.received.empty()


async def test_detach_accepts_the_same_bound_method_fetched_again(buses: BusFactory) -> None:
    """Callers pass `connection.deliver` twice; each access makes a new (equal) bound method."""

    class Connection:
        def __init__(self) -> None:
            self.inbox = Inbox()

        def deliver(self, message: BusMessage) -> None:
            self.inbox(message)

    bus = await buses()
    connection = Connection()
    await bus.attach("dev-1", connection.deliver)
    await bus.detach("dev-1", connection.deliver)
    assert await bus.send("dev-1", DISCONNECT) is False


async def test_send_to_a_device_nobody_holds_is_false(buses: BusFactory) -> None:
    bus = await buses()
    assert await bus.send("dev-unknown", DISCONNECT) is False


async def test_newer_attach_replaces_the_older(buses: BusFactory) -> None:
    bus = await buses()
    old, new = Inbox(), Inbox()
    await bus.attach("dev-1", old)
    await bus.attach("dev-1", new)
    await bus.detach("dev-1", old)  # the old socket closing must not cut off the new one

    assert await bus.send("dev-1", command("cmd-1")) is True
    assert await new.next() == command("cmd-1")
    assert old.received.empty()


async def test_send_from_another_instance_reaches_the_holder(buses: BusFactory) -> None:
    holder, sender = await buses(), await buses()
    inbox, other = Inbox(), Inbox()
    await holder.attach("dev-1", inbox)
    await holder.attach("dev-2", other)

    assert await sender.send("dev-1", command("cmd-1")) is True
    assert await sender.send("dev-1", DISCONNECT) is True
    assert [await inbox.next(), await inbox.next()] == [command("cmd-1"), DISCONNECT]
    assert other.received.empty()


async def test_reader_survives_malformed_messages_and_failing_delivery(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}:"
    bus = RedisBus.from_url(redis_url, key_prefix=prefix)
    raw = Redis.from_url(redis_url)
    caplog.set_level(logging.WARNING, logger="server.state.redis_bus")
    try:
        await bus.start()
        inbox = Inbox()
        failures = 0

        def flaky(message: BusMessage) -> None:
            nonlocal failures
            if isinstance(message, Disconnect) and failures == 0:
                failures += 1
                raise RuntimeError("socket already closed")
            inbox(message)

        await bus.attach("dev-1", flaky)
        channel = f"{prefix}dev:dev-1"
        assert await raw.publish(channel, b"not json") == 1
        assert await raw.publish(channel, b'{"kind": "reboot"}') == 1
        assert await bus.send("dev-1", DISCONNECT) is True  # raises inside `flaky`
        assert await bus.send("dev-1", command("cmd-1")) is True
        assert await inbox.next() == command("cmd-1")
        assert failures == 1
        logged = [r.getMessage() for r in caplog.records if r.name == "server.state.redis_bus"]
        assert logged == ["bus: skipped a malformed message for device dev-1"] * 2 + [
            "bus: delivery to device dev-1 failed"
        ]
    finally:
        await raw.aclose()
        await bus.close()


async def test_a_session_change_reaches_the_device_and_its_answer_the_publisher(buses: BusFactory) -> None:
    holder, publisher = await buses(), await buses()  # two instances (memory: one and the same)
    inbox = Inbox()
    await holder.attach("dev-1", inbox)
    change = SessionChange(
        event=SessionEnded(event_id="evt-1", session_id="sess-1", reason="ended"),
    )
    assert await publisher.send("dev-1", change) is True
    assert await inbox.next() == change
    waiting = asyncio.create_task(publisher.outcome("evt-1", 5.0))
    await holder.answer(Outcome(event_id="evt-1", applied=False, error="LookupError"))
    assert await waiting == Outcome(event_id="evt-1", applied=False, error="LookupError")


async def test_an_answer_that_comes_first_waits_to_be_taken_once(buses: BusFactory) -> None:
    holder, publisher = await buses(), await buses()
    await holder.answer(Outcome(event_id="evt-2", applied=True))
    assert await publisher.outcome("evt-2", 5.0) == Outcome(event_id="evt-2", applied=True)
    assert await publisher.outcome("evt-2", 0.1) is None  # taken: not answered twice


async def test_no_answer_is_none_after_the_timeout(buses: BusFactory) -> None:
    publisher = await buses()
    assert await publisher.outcome("evt-never", 0.1) is None
    assert await publisher.outcome("evt-other", 0.1) is None


async def test_attach_before_start_is_refused(redis_url: str) -> None:
    bus = RedisBus.from_url(redis_url)
    try:
        with pytest.raises(RuntimeError, match="start"):
            await bus.attach("dev-1", Inbox())
    finally:
        await bus.close()


async def test_send_many_reaches_each_holder_in_one_batch(buses: BusFactory) -> None:
    holder, sender = await buses(), await buses()
    first, second = Inbox(), Inbox()
    await holder.attach("dev-1", first)
    await holder.attach("dev-2", second)
    sent = await sender.send_many(
        [("dev-1", command("cmd-1")), ("dev-nobody", DISCONNECT), ("dev-2", command("cmd-2"))]
    )
    assert sent == [True, False, True]
    assert await first.next() == command("cmd-1")
    assert await second.next() == command("cmd-2")
    assert await sender.send_many([]) == []


async def test_outcomes_gathers_answers_from_any_instance_and_leaves_out_the_missing(
    buses: BusFactory,
) -> None:
    publisher, holder = await buses(), await buses()
    await holder.answer(Outcome(event_id="evt-early", applied=True))  # before anyone waits: kept
    waiting = asyncio.create_task(publisher.outcomes(["evt-early", "evt-late", "evt-never"], 1.0))
    await asyncio.sleep(0.05)
    await holder.answer(Outcome(event_id="evt-late", applied=False, error="LookupError"))
    found = await waiting
    assert found == {
        "evt-early": Outcome(event_id="evt-early", applied=True),
        "evt-late": Outcome(event_id="evt-late", applied=False, error="LookupError"),
    }
    assert await publisher.outcomes(["evt-early"], 0.1) == {}  # taken: not answered twice
    assert await publisher.outcomes([], 0.1) == {}


async def test_many_answers_at_once_all_arrive(buses: BusFactory) -> None:
    """A fan-out's live sessions all answer at the same moment: more answers than the Redis client's
    pool has connections (100) still all arrive."""
    publisher, holder = await buses(), await buses()
    event_ids = [f"evt-{n}" for n in range(150)]
    await asyncio.gather(*(holder.answer(Outcome(event_id=e, applied=True)) for e in event_ids))
    found = await publisher.outcomes(event_ids, 2.0)
    assert sorted(found) == sorted(event_ids)
