"""A lean Server-Sent Events reader for the benchmark: every event's id, kind, data and arrival."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Seen:
    id: str | None
    event: str
    data: dict[str, Any]
    wall: float
    """`time.time()` on arrival (the server's `at` is wall-clock time, on the same machine)."""
    perf: float


@dataclass
class Subscriber:
    seen: list[Seen] = field(default_factory=list)
    connected: bool = False

    async def run(self, client: httpx.AsyncClient, url: str, token: str, params: dict[str, str]) -> None:
        """Read until cancelled, reconnecting with `Last-Event-ID` whenever the server ends the stream
        (it does after about a minute), as EventSource does."""
        while True:
            await self._read(client, url, token, params)

    async def _read(self, client: httpx.AsyncClient, url: str, token: str, params: dict[str, str]) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        last = next((s.id for s in reversed(self.seen) if s.id is not None), None)
        if last is not None:
            headers["Last-Event-ID"] = last
        async with client.stream("GET", url, headers=headers, params=params) as response:
            response.raise_for_status()
            self.connected = True
            event, data, event_id = "message", "", None
            async for line in response.aiter_lines():
                if line == "":
                    if data:
                        self.seen.append(
                            Seen(event_id, event, json.loads(data), time.time(), time.perf_counter())
                        )
                    event, data, event_id = "message", "", None
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line.startswith("id: "):
                    event_id = line[4:]
