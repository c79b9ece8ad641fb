"""Publishing a session change: applied, offline, refused, unanswered — on both buses.

The device's side is a small stand-in for its live session that answers as told (the real
live session is exercised end to end in tests/voice/test_voice_live_session.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from server.live.changes import LiveChanges, LiveUpdateFailed, new_event_id
from server.live.events import Outcome, SessionEnded, SessionEvent
from server.state.base import Bus
from server.state.memory import MemoryBus
from server.state.records import BusMessage, SessionChange
from server.state.redis_bus import RedisBus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        memory = MemoryBus()
        yield memory
        await memory.close()
        return
    redis = RedisBus.from_url(request.getfixturevalue("redis_url"), key_prefix=f"t{uuid.uuid4().hex[:8]}:")
    await redis.start()
    yield redis
    await redis.close()


class Device:
    """Answers each change it receives with `applied` (or not at all, when `applied` is None)."""

    def __init__(self, bus: Bus, applied: bool | None, error: str | None = None) -> None:
        self.bus = bus
        self.applied = applied
        self.error = error
        self.received: list[SessionEvent] = []
        self._answers: set[asyncio.Task[None]] = set()

    def __call__(self, message: BusMessage) -> None:
        assert isinstance(message, SessionChange)
        self.received.append(message.event)
        if self.applied is not None:
            outcome = Outcome(event_id=message.event.event_id, applied=self.applied, error=self.error)
            task = asyncio.create_task(self.bus.answer(outcome))
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)


def ended() -> SessionEnded:
    return SessionEnded(event_id=new_event_id(), session_id="sess-1", reason="ended")


async def test_an_applied_change_returns_true(bus: Bus) -> None:
    device = Device(bus, applied=True)
    await bus.attach("dev-1", device)
    event = ended()
    assert await LiveChanges(bus=bus).publish("dev-1", event) is True
    assert device.received == [event]


async def test_a_device_with_no_live_session_returns_false(bus: Bus) -> None:
    assert await LiveChanges(bus=bus, answer_timeout_s=0.1).publish("dev-nobody", ended()) is False


async def test_a_change_the_live_session_refused_is_a_failure(bus: Bus) -> None:
    await bus.attach("dev-1", Device(bus, applied=False, error="LookupError"))
    with pytest.raises(LiveUpdateFailed) as failure:
        await LiveChanges(bus=bus).publish("dev-1", ended())
    assert failure.value.status_code == 503
    assert failure.value.details == {
        "device_id": "dev-1",
        "change": "SessionEnded",
        "reason": "LookupError",
        "retryable": True,
        "stored": True,
    }


async def test_an_unanswered_change_is_a_failure(bus: Bus) -> None:
    await bus.attach("dev-1", Device(bus, applied=None))
    with pytest.raises(LiveUpdateFailed) as failure:
        await LiveChanges(bus=bus, answer_timeout_s=0.2).publish("dev-1", ended())
    assert failure.value.details["reason"] == "no answer within 0.2 s"
