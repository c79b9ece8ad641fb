"""A real Server-Sent Events client of the operator event stream, for tests and benchmarks.

`open_stream(...)` connects with httpx, and a reader task parses the stream as the SSE
specification says (fields `id`, `event`, `data`, `retry`; comment lines; a blank line ends an
event) into a queue a test awaits with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

WAIT_S = 10.0


@dataclass
class SseEvent:
    event: str
    data: Any
    id: str | None
    received: float = field(default_factory=time.perf_counter)


@dataclass
class EventStream:
    status_code: int
    headers: httpx.Headers
    events: asyncio.Queue[SseEvent] = field(default_factory=asyncio.Queue)
    comments: list[str] = field(default_factory=list)
    retry_ms: int | None = None
    body: bytes = b""
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def next(self, timeout: float = WAIT_S) -> SseEvent:  # noqa: ASYNC109  # a per-call deadline reads better in tests
        return await asyncio.wait_for(self.events.get(), timeout)

    async def next_of(self, kind: str, timeout: float = WAIT_S) -> SseEvent:  # noqa: ASYNC109  # as above
        """The next event of `kind`, skipping others."""
        return await self.wait_for(lambda e: e.event == kind, timeout)

    async def wait_for(
        self,
        match: Callable[[SseEvent], bool],
        timeout: float = WAIT_S,  # noqa: ASYNC109  # as above
    ) -> SseEvent:
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            if match(event):
                return event


async def _read(response: httpx.Response, stream: EventStream) -> None:
    event, event_id = "message", None
    data: list[str] = []
    try:
        async for line in response.aiter_lines():
            if line == "":
                if data:
                    stream.events.put_nowait(SseEvent(event, json.loads("\n".join(data)), event_id))
                event, event_id = "message", None
                data = []
            elif line.startswith(":"):
                stream.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
                elif name == "id":
                    event_id = value
                elif name == "retry":
                    stream.retry_ms = int(value)
    except httpx.HTTPError:
        pass
    finally:
        stream.ended.set()


@asynccontextmanager
async def open_stream(
    api_url: str,
    token: str,
    *,
    last_event_id: str | None = None,
    params: dict[str, str] | None = None,
) -> AsyncIterator[EventStream]:
    """`GET {api_url}/events` with `token`; a non-200 answer's body is in `body`, with no reader."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    timeout = httpx.Timeout(10.0, read=None)
    async with (
        httpx.AsyncClient(timeout=timeout, trust_env=False) as client,
        client.stream("GET", f"{api_url}/events", headers=headers, params=params) as response,
    ):
        stream = EventStream(response.status_code, response.headers)
        if response.status_code != 200:
            stream.body = await response.aread()
            yield stream
            return
        reader = asyncio.create_task(_read(response, stream))
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
