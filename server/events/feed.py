"""`Feed`: one reader of the event log per instance, fanning each event out to its subscribers.

A subscriber resuming after an id first reads what it missed from the log, then what arrives
live (it is registered before it reads, so nothing falls between; ids it already had are
skipped). A subscriber that does not keep up (its queue of `queue_size` fills) is ended: the
client reconnects with its `Last-Event-ID` and reads the rest from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Literal

import msgspec

from server.events.log import ZERO_ID, EventLog, parse_id
from server.events.messages import Entry, decode_entry
from server.state.errors import StoreUnreachable

log = logging.getLogger(__name__)

TAIL_S = 2.0
RETRY_S = 0.5
PAGE = 500


class Reset(msgspec.Struct, frozen=True):
    """The client's id is older than what the log keeps (`retention`), or unknown to it (`unknown_id`:
    newer than any the log gave, e.g. after the store lost its data): it may have missed events.
    Everything the log still keeps follows."""

    reason: Literal["retention", "unknown_id"]
    oldest_id: str | None


class Heartbeat:
    pass


HEARTBEAT = Heartbeat()
Match = Callable[[Entry], bool]
Item = tuple[str, Entry] | Reset | Heartbeat


class _Subscriber:
    def __init__(self, match: Match, size: int) -> None:
        self.match = match
        self.queue: asyncio.Queue[tuple[str, Entry] | None] = asyncio.Queue(size)

    def offer(self, event_id: str, entry: Entry) -> None:
        if not self.match(entry):
            return
        try:
            self.queue.put_nowait((event_id, entry))
        except asyncio.QueueFull:  # too slow: end it; it resumes from the log
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)

    def end(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class Feed:
    def __init__(self, log: EventLog, *, queue_size: int = 1000) -> None:
        self._log = log
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def start(self) -> None:
        self._task = asyncio.create_task(self._read_loop(), name="operator-feed")

    async def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.end()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_loop(self) -> None:
        cursor: str | None = None
        while True:
            try:
                if cursor is None:
                    cursor = (await self._log.bounds()).last_id
                    self._ready.set()
                found = await self._log.tail(cursor, TAIL_S)
                if not found:
                    if parse_id((await self._log.bounds()).last_id) < parse_id(cursor):
                        # The log lost its data (a store without persistence, restarted): start over;
                        # subscribers reconnect and are told (`Reset`).
                        cursor = None
                        for subscriber in list(self._subscribers):
                            subscriber.end()
                    continue
            except StoreUnreachable:
                await asyncio.sleep(RETRY_S)
                continue
            for event_id, data in found:
                cursor = event_id
                entry = decode_entry(data)
                for subscriber in list(self._subscribers):
                    subscriber.offer(event_id, entry)

    async def stream(self, *, last_id: str | None, match: Match, heartbeat_s: float) -> AsyncIterator[Item]:
        """Events after `last_id` (None: from now on) that `match`, as they come; a `HEARTBEAT`
        after each `heartbeat_s` without one. Ends if the subscriber falls behind."""
        subscriber = _Subscriber(match, self._queue_size)
        self._subscribers.add(subscriber)
        try:
            delivered = last_id
            if last_id is not None:
                async for missed in self._backlog(last_id, match):
                    delivered = missed[0] if isinstance(missed, tuple) else ZERO_ID
                    yield missed
            while True:
                try:
                    async with asyncio.timeout(heartbeat_s):
                        item = await subscriber.queue.get()
                except TimeoutError:
                    yield HEARTBEAT
                    continue
                if item is None:
                    return
                if delivered is not None and parse_id(item[0]) <= parse_id(delivered):
                    continue
                delivered = item[0]
                yield item
        finally:
            self._subscribers.discard(subscriber)

    async def _backlog(self, last_id: str, match: Match) -> AsyncIterator[tuple[str, Entry] | Reset]:
        bounds = await self._log.bounds()
        after = last_id
        if parse_id(last_id) > parse_id(bounds.last_id):
            yield Reset(reason="unknown_id", oldest_id=bounds.first_id)
            after = ZERO_ID
        elif parse_id(last_id) < parse_id(bounds.max_deleted_id):
            yield Reset(reason="retention", oldest_id=bounds.first_id)
            after = ZERO_ID
        while True:
            page = await self._log.after(after, PAGE)
            for event_id, data in page:
                after = event_id
                entry = decode_entry(data)
                if match(entry):
                    yield event_id, entry
            if len(page) < PAGE:
                return
