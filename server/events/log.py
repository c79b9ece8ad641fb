"""`EventLog`: the bounded, ordered log the operator event stream is read from.

Ids are Redis stream ids (`<ms>-<seq>`, ordered as pairs of integers) in both implementations,
so a client's `Last-Event-ID` means the same thing whichever instance it reconnects to. The log
keeps about the last `retention` entries; `bounds()` says what was trimmed, so a client whose
id is older than what is kept is told (a `reset` event) instead of silently missing events.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import msgspec

ID_PATTERN = r"^[0-9]{1,20}-[0-9]{1,20}$"
_ID = re.compile(ID_PATTERN)
ZERO_ID = "0-0"


def parse_id(event_id: str) -> tuple[int, int]:
    """(ms, seq) of a well-formed id; `ValueError` otherwise."""
    if not _ID.match(event_id):
        raise ValueError(f"not an event id: {event_id!r}")
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


def is_event_id(event_id: str) -> bool:
    return bool(_ID.match(event_id))


class Bounds(msgspec.Struct, frozen=True):
    first_id: str | None
    """The oldest entry kept (None: the log is empty)."""
    last_id: str
    """The newest id ever given ("0-0" for none)."""
    max_deleted_id: str
    """The newest id trimmed away ("0-0" for none): a client behind it has missed events."""


class EventLog(Protocol):
    async def append(self, entries: Sequence[bytes]) -> list[str]:
        """Add entries in order (one round trip); their ids."""
        ...

    async def after(self, last_id: str, limit: int) -> list[tuple[str, bytes]]:
        """Up to `limit` entries with ids after `last_id`, oldest first."""
        ...

    async def tail(self, after_id: str, timeout_s: float) -> list[tuple[str, bytes]]:
        """Entries after `after_id`, waiting up to `timeout_s` for one if there is none yet."""
        ...

    async def bounds(self) -> Bounds: ...

    async def close(self) -> None: ...


class MemoryEventLog:
    """One process's log. Ids start at this process's start time, so after a restart they are newer
    than any a client kept, and such a client is told it missed what the old process held."""

    def __init__(self, *, retention: int) -> None:
        self._entries: deque[tuple[str, tuple[int, int], bytes]] = deque()
        self._retention = retention
        self._ms = int(time.time() * 1000)
        self._seq = 0
        self._max_deleted = ZERO_ID
        self._last = ZERO_ID
        self._grew = asyncio.Event()

    async def append(self, entries: Sequence[bytes]) -> list[str]:
        ids = []
        for data in entries:
            self._seq += 1
            event_id = f"{self._ms}-{self._seq}"
            self._entries.append((event_id, (self._ms, self._seq), data))
            ids.append(event_id)
            self._last = event_id
            if len(self._entries) > self._retention:
                self._max_deleted = self._entries.popleft()[0]
        if ids:
            self._grew.set()
            self._grew = asyncio.Event()
        return ids

    async def after(self, last_id: str, limit: int) -> list[tuple[str, bytes]]:
        key = parse_id(last_id)
        newer = []
        for event_id, entry_key, data in reversed(self._entries):  # from the newest: a live tail is short
            if entry_key <= key:
                break
            newer.append((event_id, data))
        newer.reverse()
        return newer[:limit]

    async def tail(self, after_id: str, timeout_s: float) -> list[tuple[str, bytes]]:
        found = await self.after(after_id, 1000)
        if found:
            return found
        grew = self._grew
        try:
            async with asyncio.timeout(timeout_s):
                await grew.wait()
        except TimeoutError:
            return []
        return await self.after(after_id, 1000)

    async def bounds(self) -> Bounds:
        first = self._entries[0][0] if self._entries else None
        return Bounds(first_id=first, last_id=self._last, max_deleted_id=self._max_deleted)

    async def close(self) -> None:
        return None
