"""A broadcast's line that must not cut in waits for the device's reply to end (server/voice/replying.py,
what `DeviceVoice.set_replying` sets and `LiveSession` waits on).

The waits run on a loop whose clock is stopped: no timer can fire, so a waiter that wakes was woken
by the end of the reply itself, not by a poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from server.voice.replying import Replying

WAIT_S = 60.0


class StoppedClock:
    """The running loop's clock, stopped: it moves only when the test moves it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = loop.time()

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def stopped_clock() -> AsyncIterator[StoppedClock]:
    loop = asyncio.get_running_loop()
    clock = StoppedClock(loop)
    loop.time = clock  # type: ignore[method-assign]  # an instance attribute, removed below
    try:
        yield clock
    finally:
        del loop.time


async def spin() -> None:
    """Let every task that is ready run (a few turns of the loop, no time passing)."""
    for _ in range(10):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def waiting(wait: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(wait)
    try:
        await spin()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_with_no_reply_under_way_the_wait_returns_at_once() -> None:
    replying = Replying()
    async with stopped_clock(), waiting(replying.wait_quiet(WAIT_S)) as waiter:
        assert waiter.done()


async def test_the_end_of_the_reply_wakes_the_waiter_without_a_timer() -> None:
    replying = Replying()
    replying.set(True)
    async with stopped_clock(), waiting(replying.wait_quiet(WAIT_S)) as waiter:
        assert not waiter.done()  # a reply is under way: the line waits
        assert replying.set(False)
        await spin()
        assert waiter.done()
        assert not replying.active


async def test_a_reply_that_starts_again_before_the_waiter_runs_is_waited_for_too() -> None:
    replying = Replying()
    replying.set(True)
    async with stopped_clock(), waiting(replying.wait_quiet(WAIT_S)) as waiter:
        replying.set(False)
        replying.set(True)  # the next turn's reply, before the waiter had a chance to run
        await spin()
        assert not waiter.done()
        replying.set(False)
        await spin()
        assert waiter.done()


async def test_past_the_wait_the_waiter_returns_with_the_reply_still_under_way() -> None:
    replying = Replying()
    replying.set(True)
    async with stopped_clock() as clock, waiting(replying.wait_quiet(WAIT_S)) as waiter:
        clock.now += WAIT_S / 2
        await spin()
        assert not waiter.done()
        clock.now += WAIT_S / 2
        await spin()
        assert waiter.done()
        assert waiter.exception() is None  # the line then cuts in
        assert replying.active


async def test_a_change_is_reported_once() -> None:
    replying = Replying()
    assert not replying.set(False)
    assert replying.set(True)
    assert not replying.set(True)
    assert replying.set(False)
