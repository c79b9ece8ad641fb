"""`CatchUp`: store writes that found the store unreachable, made once it answers again, in order.

A live device's voice loop does not need the store to answer a turn; what the turn would write
(its context, metrics, activity, the reply's audio) waits here while Redis is away and is written
when it is back, in the order it was meant to be written, each step retried on its own (a step
already made is not made again). One instance keeps one backlog; it outlives the sockets whose
writes it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from server.state.errors import StoreUnreachable

__all__ = ["CatchUp", "Step"]

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]
"""One store write (or a read a later step needs), safe to call again if it failed unreachable."""


class _Entry:
    def __init__(self, what: str, steps: tuple[Step, ...]) -> None:
        self.what = what
        self.steps = deque(steps)


class CatchUp:
    """Runs writes now when it can, else keeps them (at most `max_pending`) until the store is back."""

    def __init__(self, *, retry_s: float = 1.0, max_pending: int = 10_000) -> None:
        self._retry_s = retry_s
        self._max_pending = max_pending
        self._pending: deque[_Entry] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.dropped = 0
        """Writes given up because the backlog was full (logged each time)."""

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, what: str, *steps: Step) -> None:
        """Make `steps` in order now; from the first the store cannot take, keep the rest for later.

        With writes already waiting, all of them wait behind those, so the store sees them in order.
        Never raises for an unreachable store; any other failure of a step is logged and skips the rest.
        """
        entry = _Entry(what, steps)
        if not self._pending:
            try:
                await self._advance(entry)
                return
            except StoreUnreachable:
                log.warning("store unreachable: %s kept to be written when it is back", what)
        self._keep(entry)

    async def drained(self) -> None:
        """Returns once nothing waits (at once if nothing does)."""
        await self._idle.wait()

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._pending:
            log.warning(
                "shutting down with %d store writes never made (the store was away)", len(self._pending)
            )

    def _keep(self, entry: _Entry) -> None:
        if len(self._pending) >= self._max_pending:
            lost = self._pending.popleft()
            self.dropped += 1
            log.error("store away too long: %s given up (backlog full at %d)", lost.what, self._max_pending)
        self._pending.append(entry)
        self._idle.clear()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name="store-catch-up")

    async def _drain(self) -> None:
        while self._pending:
            entry = self._pending[0]
            try:
                await self._advance(entry)
            except StoreUnreachable:
                await asyncio.sleep(self._retry_s)
                continue
            if self._pending and self._pending[0] is entry:
                self._pending.popleft()
        log.info("store back: the writes kept while it was away are made")
        self._idle.set()

    @staticmethod
    async def _advance(entry: _Entry) -> None:
        """Make the entry's steps from the first not yet made; a step is dropped once made."""
        while entry.steps:
            try:
                await entry.steps[0]()
            except StoreUnreachable:
                raise
            except Exception:
                log.exception("store write %s failed; its remaining steps are skipped", entry.what)
                entry.steps.clear()
                return
            entry.steps.popleft()
